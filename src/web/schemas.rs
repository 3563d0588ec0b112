//! The shapes the JSON handlers share in their OpenAPI annotations — the error body and
//! the responses every route may give — apart from the document (`openapi`) that collects
//! them, so that handlers and document depend on this module, not on each other.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::error::ApiCode;

/// Every error: `{"code": <one of the README's codes>, "msg": "<English text>"}`.
pub struct ErrorBody;

impl PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        let codes = ApiCode::ALL.iter().map(|code| code.number());
        ObjectBuilder::new()
            .property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some(codes))
                    .description(Some(
                        "The error's code; its first three digits are the HTTP status.",
                    )),
            )
            .required("code")
            .property(
                "msg",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("What went wrong, for developers.")),
            )
            .required("msg")
            .examples([serde_json::json!({"code": 40103, "msg": "the access token has expired"})])
            .into()
    }
}

impl ToSchema for ErrorBody {}

/// 40001: the body is not the JSON this call takes (or larger than 16 KiB).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Malformed(ErrorBody);

/// The API guard said no. 40101: no token; 40102: malformed or forged; 40103: expired
/// (refresh it); 40104: logged out, revoked or deactivated; 40105: a refresh token.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct GuardRefusal(ErrorBody);

/// 42902: too many requests from this address; see `Retry-After`.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct TooManyRequests(ErrorBody);

/// 50301: the database is unavailable; 50302: busy, see `Retry-After`.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

/// A provider, by the name used in URLs and JSON.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ProviderName {
    DingTalk,
    WeChat,
    Weibo,
}
