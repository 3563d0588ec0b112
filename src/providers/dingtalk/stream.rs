//! DingTalk's Stream mode, the connection's side of it: open a connection
//! (`POST /v1.0/gateway/connections/open` with the app's key and secret → a WebSocket
//! endpoint and a single-use ticket), then JSON frames on the socket: `SYSTEM` (`ping`,
//! answered with its data; `disconnect`, after which DingTalk closes), `EVENT` and
//! `CALLBACK`, each answered with an ACK frame naming its `messageId`. Shapes:
//! `docs/dingtalk-directory.md` section C (from the official Go and Python SDKs).

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::config::{DingTalkSettings, Secret, url_at};
use crate::providers::ProviderError;
use crate::providers::http::parse;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct StreamApi {
    http: reqwest::Client,
    open_url: Url,
    client_id: String,
    client_secret: Secret,
}

/// One frame from DingTalk.
#[derive(Debug, Deserialize)]
pub struct Frame {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// A string of JSON (or, for pings, whatever DingTalk sent).
    #[serde(default)]
    pub data: Value,
}

impl Frame {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(Value::as_str)
    }

    /// `data` as the string it is on the wire.
    pub fn data_text(&self) -> String {
        match &self.data {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// How an event was taken, for its ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Applied (or applied before): do not deliver again.
    Success,
    /// Not applied: deliver again later.
    Later,
}

impl StreamApi {
    pub fn new(settings: &DingTalkSettings, http: reqwest::Client) -> StreamApi {
        StreamApi {
            http,
            open_url: url_at(&settings.api_base, "/v1.0/gateway/connections/open"),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
        }
    }

    /// A fresh endpoint and ticket (each connection needs its own).
    pub async fn open(&self) -> Result<Url, ProviderError> {
        const STEP: &str = "gateway/connections/open";
        let body = serde_json::json!({
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose(),
            "subscriptions": [
                {"type": "EVENT", "topic": "*"},
                {"type": "SYSTEM", "topic": "ping"},
                {"type": "SYSTEM", "topic": "disconnect"},
            ],
            "ua": concat!("dingtalk-login/", env!("CARGO_PKG_VERSION")),
        });
        let request = self.http.post(self.open_url.clone()).json(&body);
        let bytes = super::call(STEP, request, false).await?;
        let answer: OpenAnswer = parse(STEP, &bytes)?;
        let (Some(endpoint), Some(ticket)) = (
            answer.endpoint.filter(|e| !e.is_empty()),
            answer.ticket.filter(|t| !t.is_empty()),
        ) else {
            return Err(ProviderError::Malformed {
                step: STEP,
                detail: "no endpoint or ticket".into(),
            });
        };
        let mut url = Url::parse(&endpoint).map_err(|_| ProviderError::Malformed {
            step: STEP,
            detail: "the endpoint is not a URL".into(),
        })?;
        if !matches!(url.scheme(), "wss" | "ws") {
            return Err(ProviderError::Malformed {
                step: STEP,
                detail: "the endpoint is not a WebSocket URL".into(),
            });
        }
        url.query_pairs_mut().append_pair("ticket", &ticket);
        Ok(url)
    }

    pub async fn connect(&self, url: &Url) -> Result<Socket, ProviderError> {
        const STEP: &str = "stream connect";
        let (socket, _) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| ProviderError::Timeout { step: STEP })?
        .map_err(|_| ProviderError::Unreachable { step: STEP })?;
        Ok(socket)
    }
}

#[derive(Deserialize)]
struct OpenAnswer {
    endpoint: Option<String>,
    ticket: Option<String>,
}

/// The ACK of a frame: `code` 200 and, for an event, `{"status": "SUCCESS"|"LATER"}` as
/// the Go SDK sends it.
pub fn event_ack(message_id: &str, status: EventStatus) -> Message {
    let (status, message) = match status {
        EventStatus::Success => ("SUCCESS", "success"),
        EventStatus::Later => ("LATER", "later"),
    };
    ack(
        message_id,
        200,
        "OK",
        serde_json::json!({"status": status, "message": message}).to_string(),
    )
}

/// A ping is answered with its own data.
pub fn pong(message_id: &str, data: String) -> Message {
    ack(message_id, 200, "ok", data)
}

/// What we do not serve (a bot's CALLBACK): 404, as the SDKs answer without a handler.
pub fn not_handled(message_id: &str) -> Message {
    ack(message_id, 404, "no handler", String::new())
}

fn ack(message_id: &str, code: u16, message: &str, data: String) -> Message {
    Message::text(
        serde_json::json!({
            "code": code,
            "headers": {"contentType": "application/json", "messageId": message_id},
            "message": message,
            "data": data,
        })
        .to_string(),
    )
}

/// The next frame; `None` when the socket closed. Pings at the WebSocket level are
/// answered by the library.
pub async fn next_frame(socket: &mut Socket) -> Option<Result<Frame, String>> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(&text).map_err(|e| e.to_string()));
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub async fn send(socket: &mut Socket, message: Message) -> bool {
    socket.send(message).await.is_ok()
}
