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

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use socket2::Socket;
use std::any::Any;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
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

/// The fd of a plain TCP connection, in its connection data: lives exactly as long as
/// the connection (a number, not a second handle, so plain HTTP costs no extra fd).
#[derive(Clone, Copy)]
struct ConnFd(RawFd);

/// `HttpServer::on_connect`: records the fd of each plain TCP connection.
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ConnFd(tcp.as_raw_fd()));
    }
}

/// A handle of its own on a WebSocket's TCP socket, taken during the upgrade: what
/// [`ConnSocket::abort`] acts on once the socket task gives up on the client.
pub struct ConnSocket(Socket);

impl ConnSocket {
    /// Duplicates the socket of the connection `req` arrived on.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        let ConnFd(fd) = *req.conn_data::<ConnFd>()?;
        // SAFETY: connection data is dropped with its connection, and a handler runs
        // only while its connection's dispatcher owns the socket: during this request
        // the fd is open and is this connection's. The duplicate owns its own fd.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        match borrowed.try_clone_to_owned() {
            Ok(owned) => Some(ConnSocket(Socket::from(owned))),
            Err(e) => {
                tracing::warn!(error = %e, "websocket's TCP socket not duplicated");
                None
            }
        }
    }

    /// Ends the connection now: unsent data is dropped and a RST sent, whatever the
    /// client does. The server's own handle then fails its next write, and actix drops
    /// the connection.
    pub fn abort(&self) {
        let _ = self.0.set_linger(Some(Duration::ZERO));
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}
