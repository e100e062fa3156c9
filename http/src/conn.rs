//! The TCP side of a connection, for what actix does not do itself: capping the kernel's
//! send buffer, and aborting a WebSocket whose client stopped reading.
//!
//! A client that never reads leaves the server's writes stuck on a full socket; actix's
//! dispatcher then holds the connection (fd, buffers) until the client goes away. With
//! `SO_SNDBUF` capped (`ws.send_buffer_bytes`, inherited by every accepted socket from
//! the listener), such a client fills the buffer and the socket's bounded queue within
//! seconds; the socket task then tries a close frame for [`CLOSE_GRACE`] and aborts:
//! `SO_LINGER` 0 and `shutdown(2)` make the stuck write fail, the dispatcher drops the
//! connection, and the kernel frees it with a RST instead of keeping its unsent data.

use actix_web::dev::Extensions;
use socket2::{SockRef, Socket};
use std::any::Any;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

/// How long a closing WebSocket gets to send its close frame before the abort.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Binds `host:port` with `SO_SNDBUF` set to `send_buffer_bytes` (accepted sockets inherit
/// it on Linux, the platform this runs on).
pub fn bind(host: &str, port: u16, send_buffer_bytes: usize) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host} has no address"),
        )
    })?;
    let socket = Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_send_buffer_size(send_buffer_bytes)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A second handle on the connection's socket, kept in its connection data (and so
/// dropped with the connection): what [`abort`] acts on.
pub struct ConnSocket(Socket);

/// `HttpServer::on_connect`: records the socket of each plain TCP connection.
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        match SockRef::from(tcp).try_clone() {
            Ok(socket) => {
                data.insert(ConnSocket(socket));
            }
            Err(e) => tracing::warn!(error = %e, "connection socket not recorded"),
        }
    }
}

impl ConnSocket {
    /// Ends the connection now: unsent data is dropped and a RST sent, whatever the
    /// client does.
    pub fn abort(&self) {
        let _ = self.0.set_linger(Some(Duration::ZERO));
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }

    pub fn try_clone(&self) -> Option<ConnSocket> {
        self.0.try_clone().ok().map(ConnSocket)
    }
}
