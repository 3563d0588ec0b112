//! Identity providers behind one small trait, so WeChat (3) and Weibo (2) can join
//! DingTalk (1) without touching the login flow.

pub mod dingtalk;

use futures_util::future::BoxFuture;
use url::Url;

use crate::domain::{ProviderIdentity, ProviderKind};

pub trait IdentityProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// Where to send the browser; `state` comes back unchanged on the callback.
    fn authorize_url(&self, state: &str) -> Url;
    /// Exchanges the one-time code and reads the profile.
    fn fetch_identity<'a>(
        &'a self,
        code: &'a str,
    ) -> BoxFuture<'a, Result<ProviderIdentity, ProviderError>>;
}

/// Why a provider call failed. Logged with the provider's own code and request id;
/// the person sees a friendly page.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the code (invalid, used or expired): start again.
    #[error(
        "{step}: the provider refused the code (HTTP {status}, code {code:?}, requestid {requestid:?})"
    )]
    CodeRejected {
        step: &'static str,
        status: u16,
        code: Option<String>,
        requestid: Option<String>,
    },
    /// The app lacks a permission (e.g. Contact.User.Read) or is not authorised.
    #[error("{step}: permission denied (HTTP {status}, code {code:?}, requestid {requestid:?})")]
    PermissionDenied {
        step: &'static str,
        status: u16,
        code: Option<String>,
        requestid: Option<String>,
    },
    #[error("{step}: the provider answered HTTP {status} (code {code:?}, requestid {requestid:?})")]
    Upstream {
        step: &'static str,
        status: u16,
        code: Option<String>,
        requestid: Option<String>,
    },
    #[error("{step}: the provider did not answer in time")]
    Timeout { step: &'static str },
    #[error("{step}: the provider could not be reached")]
    Unreachable { step: &'static str },
    #[error("{step}: the provider's answer is not what its API documents ({detail})")]
    Malformed { step: &'static str, detail: String },
}
