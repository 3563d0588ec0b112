//! The sandbox's side of DingTalk's Stream mode: `POST /v1.0/gateway/connections/open`
//! hands out a WebSocket endpoint and a single-use ticket; the socket greets each client
//! with a `SYSTEM` ping and takes it for events once the ping's data comes back. An event
//! goes to one ready connection and counts as delivered when its ACK says `SUCCESS`; when
//! the connection drops first, it is delivered again on the next one, as DingTalk does.
//! A developer (or a test) can make the next event's connection drop right after the
//! event is sent, and can ask every client to reconnect (`SYSTEM` `disconnect`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};

use super::state::{CODE_TTL, Grants, Sandbox};
use crate::crypto::random_token;

/// How long an event waits for a client to be connected, and for its ACK.
const WAIT_FOR_CLIENT: Duration = Duration::from_secs(15);
const WAIT_FOR_ACK: Duration = Duration::from_secs(5);

enum Outgoing {
    /// An event frame, by its `messageId`.
    Frame(String, String),
    /// The frame, then the connection drops before its ACK can arrive.
    FrameThenDrop(String, String),
    Disconnect,
}

#[derive(Default)]
pub struct StreamHub {
    tickets: Grants<()>,
    /// Connections that answered their ping, by id.
    ready: Mutex<HashMap<u64, mpsc::UnboundedSender<Outgoing>>>,
    /// Waiters for ACKs, by `messageId`.
    acks: Mutex<HashMap<String, oneshot::Sender<String>>>,
    connected: Notify,
    next_id: AtomicU64,
    drop_after_next_event: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StreamHub {
    pub fn drop_after_next_event(&self) {
        self.drop_after_next_event.store(true, Ordering::SeqCst);
    }

    /// Asks every connected client to reconnect.
    pub fn disconnect_all(&self) -> usize {
        let ready = std::mem::take(&mut *locked(&self.ready));
        let count = ready.len();
        for sender in ready.into_values() {
            let _ = sender.send(Outgoing::Disconnect);
        }
        count
    }

    /// Sends an event frame until a client acknowledges it; the ACK's status, or why none
    /// came.
    pub async fn deliver(&self, event_frame: impl Fn(&str) -> String) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_CLIENT;
        let message_id = random_token(12);
        loop {
            let connection = loop {
                let notified = self.connected.notified();
                if let Some(sender) = locked(&self.ready).values().next().cloned() {
                    break sender;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Err("no Stream-mode client is connected".into());
                }
            };
            let (ack, acked) = oneshot::channel();
            locked(&self.acks).insert(message_id.clone(), ack);
            let frame = event_frame(&message_id);
            let outgoing = if self.drop_after_next_event.swap(false, Ordering::SeqCst) {
                Outgoing::FrameThenDrop(message_id.clone(), frame)
            } else {
                Outgoing::Frame(message_id.clone(), frame)
            };
            if connection.send(outgoing).is_err() {
                continue;
            }
            match tokio::time::timeout(WAIT_FOR_ACK, acked).await {
                Ok(Ok(status)) => return Ok(status),
                // The connection dropped before the ACK: the same event, again, on the next.
                Ok(Err(_)) => {}
                Err(_) => {
                    locked(&self.acks).remove(&message_id);
                    return Err("no acknowledgement in time".into());
                }
            }
        }
    }

    /// The connection that was sent these frames is gone: their waiters learn it.
    fn unanswerable(&self, message_ids: &[String]) {
        let mut acks = locked(&self.acks);
        for message_id in message_ids {
            acks.remove(message_id);
        }
    }

    fn acknowledged(&self, message_id: &str, data: String) {
        if let Some(waiter) = locked(&self.acks).remove(message_id) {
            let _ = waiter.send(data);
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1.0/gateway/connections/open", web::post().to(open))
        .route("/gateway/stream", web::get().to(connect))
        .route("/gateway/stream/disconnect", web::post().to(disconnect))
        .route("/gateway/stream/drop-next", web::post().to(drop_next));
}

/// `{clientId, clientSecret, subscriptions}` → `{endpoint, ticket}`.
async fn open(req: HttpRequest, body: web::Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if !sandbox.credentials_match(field("clientId"), field("clientSecret")) {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "code": "invalidClientIdOrSecret",
            "message": "无效的clientId或clientSecret",
        }));
    }
    let ticket = random_token(16);
    sandbox.stream.tickets.insert(ticket.clone(), (), CODE_TTL);
    let host = req.connection_info().host().to_owned();
    HttpResponse::Ok().json(serde_json::json!({
        "endpoint": format!("ws://{host}/sandbox/dingtalk/gateway/stream"),
        "ticket": ticket,
    }))
}

#[derive(serde::Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

async fn connect(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<TicketQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, actix_web::Error> {
    let ticket = query.ticket.as_deref().unwrap_or_default();
    if sandbox.stream.tickets.take(ticket).is_none() {
        return Ok(HttpResponse::Unauthorized().body("invalid ticket"));
    }
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(serve(sandbox.into_inner(), session, messages));
    Ok(response)
}

/// One client's connection: a ping first, then events and their ACKs.
async fn serve(
    sandbox: std::sync::Arc<Sandbox>,
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
) {
    let hub = &sandbox.stream;
    let id = hub.next_id.fetch_add(1, Ordering::SeqCst);
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let ping_id = random_token(12);
    let ping_data = serde_json::json!({"opaque": random_token(8)}).to_string();
    let ping = system_frame("ping", &ping_id, &ping_data);
    if session.text(ping).await.is_err() {
        return;
    }
    let mut sent = Vec::new();
    loop {
        tokio::select! {
            next = outgoing.recv() => match next {
                Some(Outgoing::Frame(message_id, frame)) => {
                    sent.push(message_id);
                    if session.text(frame).await.is_err() { break; }
                }
                Some(Outgoing::FrameThenDrop(message_id, frame)) => {
                    sent.push(message_id);
                    let _ = session.text(frame).await;
                    break;
                }
                Some(Outgoing::Disconnect) => {
                    let _ = session.text(system_frame("disconnect", &random_token(12), "")).await;
                    break;
                }
                None => break,
            },
            message = messages.next() => match message {
                Some(Ok(actix_ws::Message::Text(text))) => {
                    let ack: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let message_id = ack["headers"]["messageId"].as_str().unwrap_or_default();
                    let data = ack["data"].as_str().unwrap_or_default().to_owned();
                    if message_id == ping_id {
                        // Ready for events once the ping came back as sent.
                        if data == ping_data && ack["code"] == 200 {
                            locked(&hub.ready).insert(id, sender.clone());
                            hub.connected.notify_waiters();
                        }
                    } else {
                        hub.acknowledged(message_id, data);
                    }
                }
                Some(Ok(actix_ws::Message::Ping(bytes))) => {
                    if session.pong(&bytes).await.is_err() { break; }
                }
                Some(Ok(actix_ws::Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    locked(&hub.ready).remove(&id);
    hub.unanswerable(&sent);
    let _ = session.close(None).await;
}

fn system_frame(topic: &str, message_id: &str, data: &str) -> String {
    serde_json::json!({
        "specVersion": "1.0",
        "type": "SYSTEM",
        "headers": {
            "contentType": "application/json",
            "messageId": message_id,
            "time": chrono::Utc::now().timestamp_millis().to_string(),
            "topic": topic,
        },
        "data": data,
    })
    .to_string()
}

/// Every client is asked to reconnect.
async fn disconnect(sandbox: web::Data<Sandbox>) -> HttpResponse {
    let asked = sandbox.stream.disconnect_all();
    HttpResponse::Ok().json(serde_json::json!({ "disconnected": asked }))
}

/// The next event's connection drops right after the event is sent.
async fn drop_next(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.stream.drop_after_next_event();
    HttpResponse::NoContent().finish()
}
