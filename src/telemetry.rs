//! Logging set-up. What is logged is chosen where it is logged: request lines carry the
//! path without its query (an OAuth callback's query holds the code and state), and no
//! secret, password, provider token or JWT is ever a field. Every line of a request names
//! its `request_id` (the span `web::middleware::access_log` opens); security events carry
//! a stable `event` field (`login`, `login_failed`, `lockout`, `logout`,
//! `refresh_token_reuse`, `org_refused`, `admin_action`, …) a SIEM can alert on.

use tracing_subscriber::EnvFilter;

use crate::config::declared::{LOG_FORMAT, RUST_LOG};
use crate::config::{ConfigError, config_error};

/// `LOG_FORMAT=text` (the default, for people) or `json` (one object per line, for Loki,
/// ELK and the like).
pub fn init() -> Result<(), ConfigError> {
    let json = match std::env::var(LOG_FORMAT.name).as_deref() {
        Err(_) | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => {
            return Err(config_error(
                LOG_FORMAT.name,
                format!("unknown value `{other}`"),
                "Use text or json.",
            ));
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(RUST_LOG.default.unwrap_or_default()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            // Colour codes only for a person at a terminal, never into a file or collector.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init()
    };
    Ok(())
}
