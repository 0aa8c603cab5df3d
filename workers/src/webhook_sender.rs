//! The HTTP side of webhook deliveries: one POST, its status code or why
//! there was none. What is sent, signed and recorded is the rules'
//! (`rules::service::webhooks`); this only carries it.

use std::time::Duration;

/// How long one attempt may take, connection included, before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an attempt came to: the endpoint's status code, or the transport's error.
pub type Attempt = Result<u16, String>;

/// Posts signed webhook bodies.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new() -> Result<Self, reqwest::Error> {
        // No redirects: a 3xx is an answer, not an instruction to send the
        // payload (and its signature) somewhere else.
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Countersign-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `body` as JSON with `headers` to `url`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> Attempt {
        let mut request = self.client.post(url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(e.to_string()),
        }
    }
}
