//! Sign-in flows that leave the site and come back: the OAuth round trip with a provider,
//! the choice when a provider's phone number belongs to an existing account, and the
//! handoff of the tokens to the SPA at the end of any login.

/// Authorization codes (the web flow's and the in-client one) are short opaque strings:
/// anything empty, longer than 512 bytes or not printable ASCII is not one, and is never
/// sent to the provider.
pub fn plausible_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 512 && code.bytes().all(|b| b.is_ascii_graphic())
}

pub mod client_login;
pub mod handoff;
pub mod link_account;
pub mod oauth;
