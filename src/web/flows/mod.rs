//! Sign-in flows that leave the site and come back: the OAuth round trip with a provider,
//! and the handoff of the tokens to the SPA at the end of any login.

pub mod handoff;
pub mod oauth;
