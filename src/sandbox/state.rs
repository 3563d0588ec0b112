//! The DingTalk simulator's memory: its organisation, and the codes and tokens it has issued
//! (single-use codes for 5 minutes, tokens for 2 hours), pruned as they expire.

use super::grants::{ACCESS_TOKEN_TTL, CODE_TTL, Grants, credentials_match};
use super::identities::SandboxIdentity;
use crate::config::DingTalkSettings;
use crate::crypto::random_token;

/// What a code stands for: the person, and the organisation chosen on the consent page
/// (with the `corpid` scope).
#[derive(Clone)]
struct Grant {
    identity: SandboxIdentity,
    corp_id: Option<String>,
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
    pub stream: std::sync::Arc<super::stream_hub::StreamHub>,
    /// Sends its changes to the service, when it takes events.
    pub events: Option<super::events::EventSender>,
}

impl Sandbox {
    /// `base_url`: where the service listens, for the events the sandbox sends it.
    pub fn new(settings: &DingTalkSettings, base_url: &str) -> Sandbox {
        let stream = std::sync::Arc::new(super::stream_hub::StreamHub::default());
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
