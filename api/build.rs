//! The console (`api/console/`) is compiled in with `include_dir!`, which
//! sees edits to files it already embeds but not added or removed ones:
//! this makes any change under the folder rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=console");
}
