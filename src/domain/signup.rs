//! Who may come in through a provider for the first time: a plain value the settings
//! produce and the account rules apply.

/// Who may come in through a provider for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignupPolicy {
    /// `SIGNUP=open`: anyone a provider vouches for may register; `bind-only`:
    /// only users who exist already (an admin created them, or they are linked).
    pub open: bool,
    /// `DINGTALK_BIND_BY_PHONE`: a first DingTalk login may bind to a user by phone number at all.
    pub bind_by_phone: bool,
}

impl Default for SignupPolicy {
    fn default() -> Self {
        SignupPolicy {
            open: true,
            bind_by_phone: true,
        }
    }
}
