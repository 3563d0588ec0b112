//! The sandbox's Stream-mode endpoints (`docs/dingtalk-directory.md` section C):
//! `POST /v1.0/gateway/connections/open` hands out a WebSocket endpoint and a single-use
//! ticket; the socket greets each client with a `SYSTEM` ping and joins the hub once the
//! ping comes back; the developer's controls ask every client to reconnect, or drop the
//! next event's connection before its ACK.

use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::grants::CODE_TTL;
use super::state::Sandbox;
use super::stream_hub::{Outgoing, locked};
use crate::crypto::random_token;

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
