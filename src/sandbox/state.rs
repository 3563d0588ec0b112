//! The simulator's memory: preset test accounts, and the codes and tokens it has issued
//! (single-use codes for 5 minutes, tokens for 2 hours), pruned as they expire.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::identities::SandboxIdentity;
use crate::config::DingTalkSettings;
use crate::crypto::{constant_time_eq, random_token};

/// DingTalk documents single-use codes; free-login codes live 5 minutes.
pub(super) const CODE_TTL: Duration = Duration::from_secs(300);
pub(super) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7200);

/// What a code stands for: the person, and the organisation chosen on the consent page
/// (with the `corpid` scope).
#[derive(Clone)]
struct Grant {
    identity: SandboxIdentity,
    corp_id: Option<String>,
}

/// At most this many live codes and tokens each: a flood of consents costs bounded memory
/// (the oldest grants go first).
const MAX_GRANTS: usize = 100_000;

/// Codes or tokens that expire a fixed time after they are made: insertion order is expiry
/// order, so pruning pops from the front instead of scanning every grant on every login.
/// Shared by every provider's simulator.
pub(super) struct Grants<T> {
    inner: Mutex<GrantsInner<T>>,
}

struct GrantsInner<T> {
    by_key: HashMap<String, (Instant, T)>,
    by_age: VecDeque<(Instant, String)>,
}

impl<T: Clone> Default for Grants<T> {
    fn default() -> Self {
        Grants {
            inner: Mutex::new(GrantsInner {
                by_key: HashMap::new(),
                by_age: VecDeque::new(),
            }),
        }
    }
}

impl<T: Clone> Grants<T> {
    pub(super) fn insert(&self, key: String, value: T, ttl: Duration) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while inner
            .by_age
            .front()
            .is_some_and(|(expires, _)| *expires <= now || inner.by_age.len() >= MAX_GRANTS)
        {
            if let Some((_, old)) = inner.by_age.pop_front() {
                inner.by_key.remove(&old);
            }
        }
        inner.by_age.push_back((now + ttl, key.clone()));
        inner.by_key.insert(key, (now + ttl, value));
    }

    /// Single use: gone after the first look, valid or not; `None` when unknown or expired.
    pub(super) fn take(&self, key: &str) -> Option<T> {
        let (expires, value) = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .remove(key)?;
        (expires > Instant::now()).then_some(value)
    }

    /// Looked at, not used up; `None` when unknown or expired.
    pub(super) fn get(&self, key: &str) -> Option<T> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (expires, value) = inner.by_key.get(key)?;
        (*expires > Instant::now()).then(|| value.clone())
    }
}

/// Whether `given` (app id, secret) are the `expected` ones: both compared, in constant
/// time, like a real authorization server would. Every simulator checks its app this way.
pub(super) fn credentials_match(given: (&str, &str), expected: (&str, &str)) -> bool {
    let id = constant_time_eq(given.0, expected.0);
    let secret = constant_time_eq(given.1, expected.1);
    id & secret
}

pub struct Sandbox {
    pub client_id: String,
    client_secret: String,
    codes: Grants<Grant>,
    tokens: Grants<SandboxIdentity>,
    app_token: String,
    /// In-client codes (`requestAuthCode`), and the staff ids `getuserinfo` handed out.
    client_codes: Grants<SandboxIdentity>,
    staff: Grants<SandboxIdentity>,
    /// The sandbox organisation's address book.
    pub organisation: super::organisation::Organisation,
    /// Stream mode's connections.
    pub stream: std::sync::Arc<super::stream::StreamHub>,
    /// Sends its changes to the service, when it takes events.
    pub events: Option<super::events::EventSender>,
}

impl Sandbox {
    /// `base_url`: where the service listens, for the events the sandbox sends it.
    pub fn new(settings: &DingTalkSettings, base_url: &str) -> Sandbox {
        let stream = std::sync::Arc::new(super::stream::StreamHub::default());
        Sandbox {
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.expose().to_owned(),
            codes: Grants::default(),
            tokens: Grants::default(),
            app_token: random_token(16),
            client_codes: Grants::default(),
            staff: Grants::default(),
            organisation: super::organisation::Organisation::default(),
            events: super::events::EventSender::new(settings, base_url, &stream),
            stream,
        }
    }

    /// The app token this sandbox hands out (one per process, like a cached real one).
    pub fn app_token(&self) -> &str {
        &self.app_token
    }

    pub fn credentials_match(&self, client_id: &str, client_secret: &str) -> bool {
        credentials_match(
            (client_id, client_secret),
            (&self.client_id, &self.client_secret),
        )
    }

    pub fn issue_code(&self, identity: SandboxIdentity, corp_id: Option<String>) -> String {
        let code = random_token(16);
        self.codes
            .insert(code.clone(), Grant { identity, corp_id }, CODE_TTL);
        code
    }

    /// Single use: the code is gone after the first exchange, valid or not. Returns the
    /// user token and the chosen organisation.
    pub fn redeem_code(&self, code: &str) -> Option<(String, Option<String>)> {
        let redeemed = self.codes.take(code)?;
        let token = random_token(16);
        self.tokens
            .insert(token.clone(), redeemed.identity, ACCESS_TOKEN_TTL);
        Some((token, redeemed.corp_id))
    }

    /// What the DingTalk client's `dd.requestAuthCode` gives a page: a single-use code.
    pub fn issue_client_code(&self, identity: SandboxIdentity) -> String {
        let code = random_token(16);
        self.client_codes.insert(code.clone(), identity, CODE_TTL);
        code
    }

    /// `getuserinfo`: the code's person, once; their staff id stays known to `user/get`.
    pub fn redeem_client_code(&self, code: &str) -> Option<(String, SandboxIdentity)> {
        let identity = self.client_codes.take(code)?;
        let userid = identity.staff_userid();
        self.staff
            .insert(userid.clone(), identity.clone(), ACCESS_TOKEN_TTL);
        Some((userid, identity))
    }

    pub fn staff(&self, userid: &str) -> Option<SandboxIdentity> {
        self.staff.get(userid)
    }

    pub fn identity_for(&self, token: &str) -> Option<SandboxIdentity> {
        self.tokens.get(token)
    }
}
