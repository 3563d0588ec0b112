//! Processes and sockets a test owns: a child killed when dropped, and a proxy that can
//! freeze a connection to stand for a hung database.

/// A child process (the binary, chromedriver) that is killed and reaped when the test ends,
/// however it ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP proxy in front of a real server that can be frozen: it keeps every connection
/// open and accepts new ones, but passes no byte either way until it thaws — what a client
/// sees of a PostgreSQL server stopped with SIGSTOP, without stopping the suite's server.
pub struct FreezableProxy {
    pub port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl FreezableProxy {
    /// Runs on a thread of its own: the tests' synchronous database calls block their
    /// own runtime, and must not block the proxy they go through.
    pub fn start(upstream: std::net::SocketAddr) -> FreezableProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, gate) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pump(client_read, server_write, gate.clone()));
                    tokio::spawn(pump(server_read, client_write, gate.clone()));
                }
            });
        });
        FreezableProxy { port, frozen }
    }

    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if gate.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
