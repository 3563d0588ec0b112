//! Small types every layer shares, each with one meaning: whose id (`UserId`), which
//! provider (`ProviderKind`, the tutorial's numbers in `sflogin.types`), who a provider
//! vouched for (`ProviderIdentity`), phone numbers in E.164 (`Phone`), and who may
//! register (`SignupPolicy`). They know
//! nothing of HTTP; the two ids map to integer columns so queries cannot swap them.

mod ids;
mod phone;
mod provider;
mod signup;

pub use ids::UserId;
pub use phone::Phone;
pub use provider::{ProviderIdentity, ProviderKind, UNIONID_UID_PREFIX};
pub use signup::SignupPolicy;
