//! The sandbox's Stream-mode clients: the connections ready for events (their ping came
//! back). An event goes to one of them and counts as delivered when its ACK says
//! `SUCCESS`; when the connection drops first, it is delivered again on the next one, as
//! DingTalk does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use super::grants::Grants;
use crate::crypto::random_token;

/// How long an event waits for a client to be connected, and for its ACK.
const WAIT_FOR_CLIENT: Duration = Duration::from_secs(15);
const WAIT_FOR_ACK: Duration = Duration::from_secs(5);

pub(super) enum Outgoing {
    /// An event frame, by its `messageId`.
    Frame(String, String),
    /// The frame, then the connection drops before its ACK can arrive.
    FrameThenDrop(String, String),
    Disconnect,
}

#[derive(Default)]
pub struct StreamHub {
    pub(super) tickets: Grants<()>,
    /// Connections that answered their ping, by id.
    pub(super) ready: Mutex<HashMap<u64, mpsc::UnboundedSender<Outgoing>>>,
    /// Waiters for ACKs, by `messageId`.
    pub(super) acks: Mutex<HashMap<String, oneshot::Sender<String>>>,
    pub(super) connected: Notify,
    pub(super) next_id: AtomicU64,
    drop_after_next_event: AtomicBool,
}

pub(super) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
    pub(super) fn unanswerable(&self, message_ids: &[String]) {
        let mut acks = locked(&self.acks);
        for message_id in message_ids {
            acks.remove(message_id);
        }
    }

    pub(super) fn acknowledged(&self, message_id: &str, data: String) {
        if let Some(waiter) = locked(&self.acks).remove(message_id) {
            let _ = waiter.send(data);
        }
    }
}
