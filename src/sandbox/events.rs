//! The sandbox organisation's events, sent the way DingTalk sends them: over HTTP, sealed
//! and signed with the console's token and key, to the service's `/dingtalk/events`, the
//! event subscription's JSON inside (the sealed `success` must come back); or in Stream
//! mode, an `EVENT` frame on a client's connection (its ACK must say `SUCCESS`). The
//! answer says whether the service took it.

use std::sync::Arc;

use serde::Serialize;

use super::stream_hub::StreamHub;
use crate::config::{DingTalkSettings, EventTransport};
use crate::crypto::random_token;
use crate::providers::dingtalk::event_crypto::EventCipher;

pub enum EventSender {
    Http(HttpSender),
    Stream {
        hub: Arc<StreamHub>,
        corp_id: String,
        app_id: String,
    },
}

impl EventSender {
    /// `None` when the service takes no events.
    pub fn new(
        settings: &DingTalkSettings,
        base_url: &str,
        hub: &Arc<StreamHub>,
    ) -> Option<EventSender> {
        let directory = settings.directory.as_ref()?;
        match &directory.events {
            EventTransport::Off => None,
            EventTransport::Http(_) => HttpSender::new(settings, base_url).map(EventSender::Http),
            EventTransport::Stream => Some(EventSender::Stream {
                hub: hub.clone(),
                corp_id: directory.corp_id.clone(),
                app_id: settings.client_id.clone(),
            }),
        }
    }

    /// `http` or `stream`, for the developer's page.
    pub fn transport(&self) -> &'static str {
        match self {
            EventSender::Http(_) => "http",
            EventSender::Stream { .. } => "stream",
        }
    }

    /// Sends a `user_*` event about `users`.
    pub async fn people(&self, event_type: &'static str, users: &[String]) -> Delivery {
        match self {
            EventSender::Http(sender) => sender.people(event_type, users).await,
            EventSender::Stream {
                hub,
                corp_id,
                app_id,
            } => {
                let event_id = random_token(16);
                let now = chrono::Utc::now().timestamp_millis().to_string();
                let data = serde_json::json!({ "timeStamp": now, "userId": users }).to_string();
                let frame = |message_id: &str| {
                    serde_json::json!({
                        "specVersion": "1.0",
                        "type": "EVENT",
                        "headers": {
                            "appId": app_id,
                            "contentType": "application/json",
                            "messageId": message_id,
                            "time": now,
                            "topic": "*",
                            "eventId": event_id,
                            "eventType": event_type,
                            "eventCorpId": corp_id,
                            "eventBornTime": now,
                            "eventUnifiedAppId": app_id,
                        },
                        "data": data,
                    })
                    .to_string()
                };
                let answer = hub.deliver(frame).await;
                let delivered = answer.as_deref().is_ok_and(|ack| {
                    serde_json::from_str::<serde_json::Value>(ack)
                        .is_ok_and(|ack| ack["status"] == "SUCCESS")
                });
                Delivery {
                    event_type,
                    event_id: event_id.clone(),
                    delivered,
                    answer: answer.unwrap_or_else(|error| error),
                }
            }
        }
    }
}

pub struct HttpSender {
    http: reqwest::Client,
    target: String,
    corp_id: String,
    cipher: EventCipher,
}

/// What became of one event.
#[derive(Debug, Serialize)]
pub struct Delivery {
    pub event_type: &'static str,
    pub event_id: String,
    /// The service answered with the sealed `success`.
    pub delivered: bool,
    /// Its HTTP status, or why there was none.
    pub answer: String,
}

impl HttpSender {
    /// `None` unless the service takes events over HTTP.
    fn new(settings: &DingTalkSettings, base_url: &str) -> Option<HttpSender> {
        let directory = settings.directory.as_ref()?;
        let EventTransport::Http(keys) = &directory.events else {
            return None;
        };
        Some(HttpSender {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .ok()?,
            target: format!("{base_url}/dingtalk/events"),
            corp_id: directory.corp_id.clone(),
            cipher: EventCipher::new(
                keys.token.clone(),
                keys.aes_key.expose(),
                keys.receiver.clone(),
            )?,
        })
    }

    async fn people(&self, event_type: &'static str, users: &[String]) -> Delivery {
        let now = chrono::Utc::now().timestamp_millis();
        let event_id = random_token(16);
        let event = serde_json::json!({
            "EventType": event_type,
            "EventTime": now,
            "CorpId": self.corp_id,
            "BizId": random_token(8),
            "eventId": event_id,
            "timeStamp": now.to_string(),
            "userId": users,
        });
        let answer = self.send(&event.to_string()).await;
        Delivery {
            event_type,
            event_id,
            delivered: answer.as_ref().is_ok_and(|(ok, _)| *ok),
            answer: match answer {
                Ok((_, status)) => status,
                Err(error) => error,
            },
        }
    }

    /// Seals, signs and posts `message`; whether the answer was the sealed `success`, and
    /// the status.
    async fn send(&self, message: &str) -> Result<(bool, String), String> {
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let nonce = random_token(6);
        let encrypt = self.cipher.seal(message);
        let signature = self.cipher.signature(&timestamp, &nonce, &encrypt);
        let response = self
            .http
            .post(&self.target)
            .query(&[
                ("msg_signature", signature.as_str()),
                ("timestamp", timestamp.as_str()),
                ("nonce", nonce.as_str()),
            ])
            .json(&serde_json::json!({ "encrypt": encrypt }))
            .send()
            .await
            .map_err(|error| format!("not delivered: {error}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let text = |key: &str| body.get(key).and_then(|v| v.as_str()).unwrap_or_default();
        let success = self
            .cipher
            .open(
                text("msg_signature"),
                text("timeStamp"),
                text("nonce"),
                text("encrypt"),
            )
            .is_ok_and(|answer| answer == "success");
        Ok((success, status.as_u16().to_string()))
    }
}
