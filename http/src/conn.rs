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
use socket2::{SockRef, Socket};
use std::any::Any;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::{Rc, Weak};
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

/// The fd of a plain TCP connection, in its connection data, with a token that lives
/// exactly as long as that data: the connection's dispatcher holds it and drops it in
/// the same step as the socket (requests drop their share when they end).
struct ConnFd {
    fd: RawFd,
    alive: Rc<()>,
}

/// `HttpServer::on_connect`: records the fd of each plain TCP connection.
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        data.insert(ConnFd {
            fd: tcp.as_raw_fd(),
            alive: Rc::new(()),
        });
    }
}

/// A WebSocket's TCP socket, noted during the upgrade: what [`ConnSocket::abort`] acts on
/// once the socket task gives up on the client. The fd number and a weak token of the
/// connection, not a duplicate fd: a duplicate would double every socket's fds (19,500
/// sockets would need 39,000), and the token says whether the number is still this
/// connection's.
pub struct ConnSocket {
    fd: RawFd,
    alive: Weak<()>,
}

impl ConnSocket {
    /// The socket of the connection `req` arrived on.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        let conn = req.conn_data::<ConnFd>()?;
        Some(ConnSocket {
            fd: conn.fd,
            alive: Rc::downgrade(&conn.alive),
        })
    }

    /// Ends the connection now: unsent data is dropped and a RST sent, whatever the
    /// client does. The dispatcher then fails its next write and drops the connection.
    /// Nothing to do when the connection is gone already.
    pub fn abort(&self) {
        // The token, the dispatcher and this call are on the same worker thread (the socket
        // task is spawned locally by the upgrade): while the token lives, the dispatcher
        // still owns the socket, so the fd is open and is this connection's.
        if self.alive.strong_count() == 0 {
            return;
        }
        // SAFETY: as above, the fd is open and stays so for this synchronous call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let socket = SockRef::from(&fd);
        let _ = socket.set_linger(Some(Duration::ZERO));
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}
