//! Sign-in flows that leave the site and come back: the OAuth round trip with a provider,
//! the choice when a provider's phone number belongs to an existing account, and the
//! handoff of the tokens to the SPA at the end of any login.

pub mod client_login;
pub mod handoff;
pub mod link_account;
pub mod oauth;
