//! Runs a console journey (`tests/browser/<script>.mjs`) in Debian's headless
//! Chromium through Playwright, against a server a test started.
//!
//! Needs `/usr/bin/chromium` (or `COUNTERSIGN_CHROMIUM`) and Node.js;
//! `.ci/run` installs both. The Node dependencies are installed on first use.
//! Screenshots land in `target/console-screenshots/`.

use crate::{Session, TestApp};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where every journey writes its screenshots.
pub fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots")
}

fn chromium() -> String {
    let path = std::env::var("COUNTERSIGN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "the console tests need Chromium at {path}: `apt-get install chromium` (bash .ci/run does) or set COUNTERSIGN_CHROMIUM"
    );
    path
}

/// `tests/browser` with its Node dependencies installed (every one its
/// `package.json` lists).
pub async fn browser_dir() -> PathBuf {
    node_packages(&Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")).await
}

/// `dir` with the Node packages its `package.json` lists (dependencies and
/// devDependencies) installed by `npm ci`, if any is missing.
pub async fn node_packages(dir: &Path) -> PathBuf {
    // Tests of one binary run at once; two `npm ci` in one folder break each other.
    static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = INSTALLING.lock().await;
    let manifest: Value = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("{}/package.json", dir.display()));
    let missing = ["dependencies", "devDependencies"].iter().any(|kind| {
        manifest[kind]
            .as_object()
            .is_some_and(|deps| deps.keys().any(|name| !dir.join("node_modules").join(name).exists()))
    });
    if missing {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .await
            .expect("npm (Node.js) is needed for the console tests and the examples");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    dir.to_path_buf()
}

/// A person's sign-in details as the journey scripts take them.
pub fn credentials(s: &Session) -> Value {
    json!({"email": s.email, "password": s.password, "totp": s.totp_secret})
}

/// The fixture every journey gets: where the server is, Chromium, the
/// screenshots folder and the server's clock offset; `extra` is merged in.
pub fn fixture(app: &TestApp, extra: Value) -> Value {
    let mut f = json!({
        "base": app.base,
        "chromium": chromium(),
        "screenshots": screenshots(),
        "clockOffsetMs": (app.now() - chrono::Utc::now()).num_milliseconds(),
    });
    if let (Some(f), Value::Object(extra)) = (f.as_object_mut(), extra) {
        f.extend(extra);
    }
    f
}

/// Runs `tests/browser/<script>` with `fixture` and fails the test unless it
/// prints `<name> browser journey passed`. Returns what it printed.
pub async fn run(script: &str, fixture: Value) -> String {
    let dir = browser_dir().await;
    let run = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("CONSOLE_FIXTURE", fixture.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 5 minutes"))
        .expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser journey passed"), "{stdout}");
    stdout.into_owned()
}
