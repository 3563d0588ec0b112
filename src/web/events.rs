//! `POST /dingtalk/events`: the directory's events pushed by DingTalk over HTTP
//! (`DINGTALK_EVENTS=http`). Nothing is believed before it is verified: the signature
//! (constant time), the timestamp (±5 minutes), the receiver sealed inside and the
//! organisation named; then the change is committed, and only then does DingTalk get the
//! sealed `success` it waits for (else it delivers again). A redelivered event is answered
//! `success` too, with nothing written.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::directory::DirectoryService;
use crate::directory::events::{Change, DirectoryEvent};
use crate::error::{ApiCode, ApiError};
use crate::providers::dingtalk::event_crypto::EventCipher;

/// How far an event's timestamp may be from our clock.
const WINDOW_SECONDS: i64 = 300;

/// The signature's parameters, in either spelling the official helper reads.
#[derive(Deserialize)]
pub struct Signed {
    msg_signature: Option<String>,
    signature: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "timeStamp")]
    time_stamp: Option<String>,
    nonce: Option<String>,
}

#[derive(Deserialize)]
struct Sealed {
    encrypt: String,
}

fn refused(reason: &'static str) -> ApiError {
    tracing::warn!(
        event = "directory_event_refused",
        reason,
        "a DingTalk event was refused; nothing written"
    );
    ApiError::new(ApiCode::EventRefused, format!("event refused: {reason}"))
}

/// Whether a timestamp (DingTalk sends milliseconds; the Python helper seconds) is within
/// the window of now.
fn is_fresh(timestamp: &str) -> bool {
    let Ok(value) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    let seconds = if value > 100_000_000_000 {
        value / 1000
    } else {
        value
    };
    (chrono::Utc::now().timestamp() - seconds).abs() <= WINDOW_SECONDS
}

pub async fn receive(
    query: web::Query<Signed>,
    body: web::Bytes,
    cipher: Option<web::Data<EventCipher>>,
    directory: Option<web::Data<DirectoryService>>,
) -> Result<HttpResponse, ApiError> {
    let (Some(cipher), Some(directory)) = (cipher, directory) else {
        return Err(ApiError::new(
            ApiCode::NotFound,
            "events over HTTP are off (DINGTALK_EVENTS=http)",
        ));
    };
    let query = query.into_inner();
    let signature = query.msg_signature.or(query.signature).unwrap_or_default();
    let timestamp = query.timestamp.or(query.time_stamp).unwrap_or_default();
    let nonce = query.nonce.unwrap_or_default();
    let sealed: Sealed = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("the body is not {\"encrypt\": \"…\"}"))?;
    let message = cipher
        .open(&signature, &timestamp, &nonce, &sealed.encrypt)
        .map_err(|error| {
            refused(match error {
                crate::providers::dingtalk::event_crypto::EventCryptoError::BadSignature => {
                    "bad signature"
                }
                crate::providers::dingtalk::event_crypto::EventCryptoError::WrongReceiver => {
                    "sealed for another receiver"
                }
                _ => "cannot be decrypted",
            })
        })?;
    // Checked after the signature, which covers the timestamp: a replayed request cannot
    // carry a new one.
    if !is_fresh(&timestamp) {
        return Err(refused("timestamp more than 5 minutes off"));
    }
    let event = DirectoryEvent::from_http(&message)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let change = event.change.clone();
    if change != Change::CheckUrl {
        match directory.apply_event(event, "http").await {
            Ok(outcome) => outcome.log(&change),
            Err(crate::directory::DirectoryError::ForeignEvent(_)) => {
                return Err(refused("about another organisation"));
            }
            Err(error) => {
                tracing::error!(event = "directory_event_failed", change = change.name(), error = %error, "a DingTalk event could not be applied; DingTalk will deliver it again");
                return Err(error.into());
            }
        }
    }
    Ok(HttpResponse::Ok().json(cipher.success_reply()))
}
