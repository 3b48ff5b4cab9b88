//! systemd's notify protocol (`Type=notify`): `READY=1` once the node
//! serves what it should, `WATCHDOG=1` while it is alive, `STOPPING=1`
//! when it drains. A datagram to `$NOTIFY_SOCKET`; nothing happens when
//! the variable is unset (not started by systemd).

use std::time::Duration;

/// Sends one notification; false when there is no socket or it failed.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket name (Linux).
        abstract_send(&socket, name, state)
    } else {
        socket.send_to(state.as_bytes(), &path).is_ok()
    };
    if !sent {
        tracing::warn!(state, "cannot notify systemd");
    }
    sent
}

#[cfg(target_os = "linux")]
fn abstract_send(socket: &std::os::unix::net::UnixDatagram, name: &[u8], state: &str) -> bool {
    use std::os::linux::net::SocketAddrExt as _;
    std::os::unix::net::SocketAddr::from_abstract_name(name)
        .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        .is_ok()
}

#[cfg(not(target_os = "linux"))]
fn abstract_send(_: &std::os::unix::net::UnixDatagram, _: &[u8], _: &str) -> bool {
    false
}

/// The watchdog interval systemd asked for (`WatchdogSec`), halved as
/// systemd recommends; none when the watchdog is off or is meant for
/// another process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        && pid != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
