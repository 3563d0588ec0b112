//! Identity providers behind one small trait — DingTalk (1), Weibo (2), WeChat (3) — so
//! the login flow has no per-provider copy, and the set of configured ones with a
//! global budget of calls in flight: a flood of callbacks from many addresses cannot use
//! up the app's quota at the provider for everyone.

pub mod dingtalk;
mod http;
pub mod wechat;
pub mod weibo;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
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
    /// Whether a callback without any `code` (only `state`) is the person's refusal, as
    /// with WeChat; elsewhere it is a malformed answer.
    fn refuses_without_code(&self) -> bool {
        false
    }
    /// Login inside the provider's own client app with a code its JS API gave the page;
    /// `None` where the provider (or its configuration) has none.
    fn client_identity<'a>(
        &'a self,
        _code: &'a str,
    ) -> Option<BoxFuture<'a, Result<ProviderIdentity, ProviderError>>> {
        None
    }
}

/// The configured providers, each behind the trait, sharing one budget of calls.
#[derive(Clone)]
pub struct Providers {
    list: Vec<Arc<dyn IdentityProvider>>,
    in_flight: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("too many provider calls are in flight")]
    Busy,
    #[error("the provider {0} is not configured")]
    NotConfigured(ProviderKind),
}

impl Providers {
    pub fn new(list: Vec<Arc<dyn IdentityProvider>>, max_in_flight: usize) -> Providers {
        Providers {
            list,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// The configured providers, in the login page's order.
    pub fn kinds(&self) -> Vec<ProviderKind> {
        ProviderKind::DISPLAY_ORDER
            .into_iter()
            .filter(|&kind| self.get(kind).is_some())
            .collect()
    }

    pub fn get(&self, kind: ProviderKind) -> Option<&Arc<dyn IdentityProvider>> {
        self.list.iter().find(|p| p.kind() == kind)
    }

    /// Who the in-client `code` belongs to, under the same budget; `NotConfigured` where
    /// the provider has no in-client login.
    pub async fn client_identity(
        &self,
        kind: ProviderKind,
        code: &str,
    ) -> Result<ProviderIdentity, FetchError> {
        let (provider, _permit) = self.reserve(kind)?;
        match provider.client_identity(code) {
            Some(identity) => {
                let identity = identity.await.and_then(fit_for_storage);
                Ok(identity.inspect_err(|error| count_failed_login(kind, error))?)
            }
            None => Err(FetchError::NotConfigured(kind)),
        }
    }

    /// The provider's word on who `code` belongs to; refused at once (not queued) when the
    /// budget is spent.
    pub async fn fetch_identity(
        &self,
        kind: ProviderKind,
        code: &str,
    ) -> Result<ProviderIdentity, FetchError> {
        let (provider, _permit) = self.reserve(kind)?;
        let identity = provider
            .fetch_identity(code)
            .await
            .and_then(fit_for_storage);
        Ok(identity.inspect_err(|error| count_failed_login(kind, error))?)
    }

    /// The provider, and a place in the budget of calls, held until the call ends.
    fn reserve(
        &self,
        kind: ProviderKind,
    ) -> Result<(&Arc<dyn IdentityProvider>, tokio::sync::SemaphorePermit<'_>), FetchError> {
        let provider = self.get(kind).ok_or(FetchError::NotConfigured(kind))?;
        let permit = self.in_flight.try_acquire().map_err(|_| FetchError::Busy)?;
        Ok((provider, permit))
    }
}

/// Ids that no database could index or store (too long, control characters) are a
/// malformed answer, the same on SQLite and PostgreSQL; a display value is tidied instead.
fn fit_for_storage(identity: ProviderIdentity) -> Result<ProviderIdentity, ProviderError> {
    identity
        .fit_for_storage()
        .map_err(|detail| ProviderError::Malformed {
            step: "profile",
            detail: detail.to_owned(),
        })
}

/// A login the provider's answer ended: counted, and an organisation's refusal logged as
/// a security event.
fn count_failed_login(kind: ProviderKind, error: &ProviderError) {
    let outcome = match error {
        ProviderError::NotInOrganisation { .. }
        | ProviderError::NotAMember { .. }
        | ProviderError::NotVisible => "refused_org",
        _ => "failed",
    };
    crate::metrics::login(kind.name(), outcome);
    if outcome == "refused_org" {
        tracing::info!(event = "org_refused", provider = %kind, error = %error, "not a member of an allowed organisation");
    }
}

impl ProviderError {
    /// The kind of failure, as a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::CodeRejected { .. } => "code_rejected",
            ProviderError::PermissionDenied { .. } => "permission_denied",
            ProviderError::PermissionMissing { .. } => "permission_missing",
            ProviderError::Upstream { .. } => "upstream_error",
            ProviderError::NotInOrganisation { .. }
            | ProviderError::NotVisible
            | ProviderError::NotAMember { .. } => "not_a_member",
            ProviderError::OrganisationApi { .. } => "organisation_api_error",
            ProviderError::Unverified { .. } => "unverified",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Unreachable { .. } => "unreachable",
            ProviderError::Malformed { .. } => "malformed",
        }
    }
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
    /// The app lacks a permission that the organisation's admin grants in DingTalk's
    /// developer console.
    #[error("{step}: the app lacks the permission {permission} ({console_name})")]
    PermissionMissing {
        step: &'static str,
        /// Its code, as DingTalk names it in the refusal.
        permission: String,
        /// Its name as the console shows it.
        console_name: &'static str,
    },
    #[error("{step}: the provider answered HTTP {status} (code {code:?}, requestid {requestid:?})")]
    Upstream {
        step: &'static str,
        status: u16,
        code: Option<String>,
        requestid: Option<String>,
    },
    /// The person signed in as a member of no allowed organisation (or of none at all).
    #[error("not in an allowed organisation (corpId {corp_id:?})")]
    NotInOrganisation { corp_id: Option<String> },
    /// The person is outside the app's visibility range (DingTalk's 40079).
    #[error("outside the app's visibility range (40079)")]
    NotVisible,
    /// The contacts API says the person is no employee of the organisation.
    #[error("not a member of the organisation: {reason}")]
    NotAMember { reason: &'static str },
    /// The contacts API answered with an error the admin has to look at.
    #[error("{step}: errcode {errcode} ({errmsg}), sub_code {sub_code:?}: {hint}")]
    OrganisationApi {
        step: &'static str,
        errcode: String,
        errmsg: String,
        sub_code: Option<String>,
        hint: &'static str,
    },
    /// The provider's own check of its token named another person or another app (Weibo's
    /// `get_token_info`): the answer is not trusted.
    #[error("{step}: the token could not be confirmed: {detail}")]
    Unverified { step: &'static str, detail: String },
    #[error("{step}: the provider did not answer in time")]
    Timeout { step: &'static str },
    #[error("{step}: the provider could not be reached")]
    Unreachable { step: &'static str },
    #[error("{step}: the provider's answer is not what its API documents ({detail})")]
    Malformed { step: &'static str, detail: String },
}
