//! Opening WebSockets as a user: token in `Authorization` (as the app sends it), optionally
//! from a chosen loopback source address so that one client can exceed the ~28k ephemeral
//! ports of a single address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection could not be opened, as reports count it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad WebSocket URL {0}")]
    Url(String),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("tcp connect: {0}")]
    Tcp(std::io::Error),
    #[error("upgrade refused with HTTP {0}")]
    Refused(u16),
    #[error("handshake: {0}")]
    Handshake(String),
}

impl ConnectError {
    pub fn cause(&self) -> String {
        match self {
            ConnectError::Url(_) => "bad url".into(),
            ConnectError::Resolve(_) => "resolve".into(),
            ConnectError::Tcp(e) => format!("tcp {:?}", e.kind()),
            ConnectError::Refused(s) => format!("upgrade {s}"),
            ConnectError::Handshake(_) => "handshake".into(),
        }
    }
}

/// The n-th source address of 127.0.0.0/8 (127.0.1.1, 127.0.1.2, ...), skipping network
/// and broadcast-looking last octets.
pub fn source_addr(n: u32) -> Ipv4Addr {
    // 254 usable last octets per /24, starting at 127.0.1.x: 127.0.0.1 stays the server's.
    let block = n / 254 + 1;
    let c = (n % 254 + 1) as u8;
    Ipv4Addr::new(127, ((block >> 8) & 0xff) as u8, (block & 0xff) as u8, c)
}

/// Opens a WebSocket to `url` as `token`, from `source` when given (loopback targets only).
pub async fn connect(
    url: &str,
    token: &str,
    source: Option<Ipv4Addr>,
) -> Result<Socket, ConnectError> {
    let mut req = url
        .into_client_request()
        .map_err(|_| ConnectError::Url(url.to_string()))?;
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(token).map_err(|_| ConnectError::Url("token".into()))?,
    );
    let uri = req.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| ConnectError::Url(url.to_string()))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr: SocketAddr = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|_| ConnectError::Resolve(host.to_string()))?
        .next()
        .ok_or_else(|| ConnectError::Resolve(host.to_string()))?;
    let tcp = match (source, addr.ip()) {
        (Some(src), IpAddr::V4(_)) => {
            let s = TcpSocket::new_v4().map_err(ConnectError::Tcp)?;
            s.bind(SocketAddr::new(IpAddr::V4(src), 0))
                .map_err(ConnectError::Tcp)?;
            s.connect(addr).await.map_err(ConnectError::Tcp)?
        }
        _ => TcpStream::connect(addr).await.map_err(ConnectError::Tcp)?,
    };
    let _ = tcp.set_nodelay(true);
    match tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            Err(ConnectError::Refused(resp.status().as_u16()))
        }
        Err(e) => Err(ConnectError::Handshake(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_spread_over_loopback_and_avoid_the_servers() {
        assert_eq!(source_addr(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(source_addr(5), Ipv4Addr::new(127, 0, 1, 6));
        assert_eq!(source_addr(253), Ipv4Addr::new(127, 0, 1, 254));
        assert_eq!(source_addr(300), Ipv4Addr::new(127, 0, 2, 47));
        let mut seen = std::collections::HashSet::new();
        for n in 0..70_000 {
            let a = source_addr(n);
            assert!(seen.insert(a), "{a} twice");
            assert!(a.is_loopback() && a != Ipv4Addr::new(127, 0, 0, 1));
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255);
        }
    }
}
