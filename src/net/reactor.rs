//! The event loop: one thread, one mio `Poll`, the listener and every connection in a
//! slab (a token is a slab index), and the keyspace owned right here, so no lock is ever
//! taken.
//!
//! One loop turn:
//! 1. `poll` with a timeout up to the next expiry deadline or cron tick;
//! 2. accept new clients; read once from each readable client and run every complete
//!    request in its buffer;
//! 3. run the expiry wheel (bounded work);
//! 4. `hz` times a second (10 by default), the cron: idle timeouts, buffer release, INFO's ops/sec;
//! 5. publish the keyspace gauges for the metrics thread;
//! 6. write each client's replies with one `write`; only if bytes are left over is
//!    WRITABLE interest registered (Redis's `handleClientsWithPendingWrites`).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use super::conn::{Conn, ReadResult, output_limit_reached};
use crate::clock;
use crate::cmd::{Client, Ctx, KillFilter, Request, Shared, persistence};
use crate::config::Config;
use crate::metrics::stats::{Stats, bump, set};
use crate::store::Store;
use crate::store::prefetch::BatchPrefetch;
use crate::store::wheel::TimerWheel;
use crate::util::now_ms;

/// Token of the signal pipe (outside the slab's index range).
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Longest the expiry wheel may run per loop turn, so a mass expiry cannot stall clients.
const EXPIRE_BUDGET: Duration = Duration::from_millis(1);
/// Most connections accepted per loop turn before serving the others.
const ACCEPT_BATCH: usize = 256;
/// Pause between two non-blocking polls while busy-polling (see `wait_for_events`).
const SPIN_PAUSE_NS: u64 = 10_000;

/// A blocked client's timer payload: its token, and its id's low bits so that a timer left
/// by a closed client never fires for the client that reuses its token.
fn block_timer(token: usize, id: u64) -> u64 {
    ((token as u64) << 32) | (id & 0xffff_ffff)
}

/// Freed client buffers that make the cron give heap memory back to the system.
const TRIM_AFTER_FREED: usize = 32 << 20;

/// What a client from another host gets while protected mode is on and no password is
/// set (Redis's text, word for word, so that users find Redis's documentation for it).
const PROTECTED_MODE_DENIED: &str = concat!(
    "-DENIED Redis is running in protected mode because protected mode is enabled and no ",
    "password is set for the default user. In this mode connections are only accepted from ",
    "the loopback interface. If you want to connect from external computers to Redis you may ",
    "adopt one of the following solutions: 1) Just disable protected mode sending the command ",
    "'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from ",
    "the same host the server is running, however MAKE SURE Redis is not publicly accessible ",
    "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) ",
    "Alternatively you can just disable the protected mode by editing the Redis configuration ",
    "file, and setting the protected mode option to 'no', and then restarting the server. 3) ",
    "If you started the server manually just for testing, restart it with the ",
    "'--protected-mode no' option. 4) Setup a an authentication password for the default ",
    "user. NOTE: You only need to do one of the above things in order for the server to start ",
    "accepting connections from the outside.\r\n"
);

/// Listen backlog, as Redis's tcp-backlog default. mio listens with 128, which drops SYNs
/// (and costs clients a 1 s retransmit) when hundreds connect at once.
const TCP_BACKLOG: i32 = 511;

/// Calls `listen` again with [`TCP_BACKLOG`]; Linux updates the backlog of a listening
/// socket in place. Failure only leaves the smaller backlog, so it is logged, not fatal.
fn raise_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `listener`, which is alive for the whole call;
    // listen() only changes the socket's queue length.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), TCP_BACKLOG) };
    if rc != 0 {
        log::warn!(
            "could not raise the listen backlog: {}",
            io::Error::last_os_error()
        );
    }
}

/// A listening socket on `addr`. An IPv6 one accepts IPv6 only (as Redis sets
/// IPV6_V6ONLY), so `bind * ::*` can listen on both families on the same port.
fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let SocketAddr::V6(v6) = addr else {
        return TcpListener::bind(addr);
    };
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket calls on a descriptor created here; OwnedFd closes it on every
    // early return, and the sockaddr_in6 lives across the bind call.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let one: libc::c_int = 1;
        for (level, name) in [
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        ] {
            let rc = libc::setsockopt(
                raw,
                level,
                name,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = v6.port().to_be();
        sa.sin6_addr.s6_addr = v6.ip().octets();
        sa.sin6_scope_id = v6.scope_id();
        let rc = libc::bind(
            raw,
            (&sa as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        );
        if rc != 0 || libc::listen(raw, TCP_BACKLOG) != 0 {
            return Err(io::Error::last_os_error());
        }
        let std_listener = std::net::TcpListener::from(fd);
        Ok(TcpListener::from_std(std_listener))
    }
}

/// The errors for which Redis skips an optional (`-`) bind address: the address or its
/// family is not available on this host.
fn address_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EADDRNOTAVAIL
                | libc::EAFNOSUPPORT
                | libc::EPROTONOSUPPORT
                | libc::ENOPROTOOPT
                | libc::ESOCKTNOSUPPORT
                | libc::EPFNOSUPPORT
        )
    )
}

/// What a slab slot holds.
#[derive(Debug)]
enum Socket {
    Listener(TcpListener),
    Client(Box<Conn>),
    /// A client taken out while its commands run (see `Server::process`).
    Running,
}

/// The server: listener, connections, keyspace and the loop that drives them.
pub struct Server {
    poll: Poll,
    sockets: Slab<Socket>,
    /// How many listening sockets there are: they hold slab slots `0..listeners` (bound
    /// first, never freed before shutdown), so an event's token says cheaply whether it
    /// is a listener's.
    listeners: usize,
    local_addr: SocketAddr,
    signals: Option<Signals>,
    store: Store,
    shared: Shared,
    clients: usize,
    next_client_id: u64,
    /// Connections with replies to write at the end of this turn.
    to_flush: Vec<usize>,
    /// Connections whose last read filled the buffer: read again without waiting.
    to_read: Vec<usize>,
    /// Connections read this turn whose requests are still to run.
    ready: Vec<usize>,
    /// The keys of `ready`'s requests between the prefetch passes (buffers reused).
    prefetch: BatchPrefetch,
    /// The listener must be drained again (batch limit hit, or an accept error paused it).
    accept_again_at: Option<u64>,
    last_accept_error_log: u64,
    next_cron: u64,
    last_idle_check: u64,
    ops_sample: (u64, u64),
    expiry_pending: bool,
    /// Client buffer bytes freed since the heap was last trimmed.
    freed_buffer_bytes: usize,
    /// Where the clients cron goes on next turn (a slab index).
    clients_cron_cursor: usize,
    /// Deadlines of blocked clients (payload: token and client id, see `block_timer`).
    block_timers: TimerWheel,
    shutting_down: bool,
    /// A busy script's turn saw the signal pipe become readable.
    signal_pending: bool,
    /// The background save has work to do right away: don't sleep.
    snapshot_busy: bool,
}

impl Server {
    /// Binds the listening socket and prepares the keyspace.
    pub fn bind(config: Config) -> io::Result<Server> {
        clock::init();
        let poll = Poll::new()?;
        crate::cmd::apply_renames(&config.startup.renames).map_err(io::Error::other)?;
        let mut sockets = Slab::with_capacity(1024);
        let first = TcpListener::bind(config.bind)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        // Redis listens on every address of `bind`, all on the same port.
        for &(ip, optional) in &config.startup.more_binds {
            let addr = SocketAddr::new(ip, local_addr.port());
            match bind_listener(addr) {
                Ok(l) => listeners.push(l),
                Err(e) if optional && address_unavailable(&e) => {
                    log::info!("not listening on optional address {addr}: {e}");
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("Could not create server TCP listening socket {addr}: {e}"),
                    ));
                }
            }
        }
        let count = listeners.len();
        for (i, mut listener) in listeners.into_iter().enumerate() {
            raise_backlog(&listener);
            let entry = sockets.vacant_entry();
            debug_assert_eq!(entry.key(), i, "listeners take the first slots");
            poll.registry()
                .register(&mut listener, Token(i), Interest::READABLE)?;
            entry.insert(Socket::Listener(listener));
        }
        let params = config.params(local_addr).map_err(io::Error::other)?;
        crate::store::lazyfree::set_options(&params.settings.lazyfree);
        crate::store::lazyfree::start();
        let now = now_ms();
        let mut store = Store::new(config.databases as usize, now);
        store.set_access_mode(params.settings.memory.access_mode());
        let mut shared = Shared::new(config, params);
        crate::cmd::aof::open_at_start(&mut store, &mut shared, now).map_err(io::Error::other)?;
        Ok(Server {
            poll,
            sockets,
            listeners: count,
            local_addr,
            signals: None,
            store,
            shared,
            clients: 0,
            next_client_id: 1,
            to_flush: Vec::new(),
            to_read: Vec::new(),
            ready: Vec::new(),
            prefetch: BatchPrefetch::default(),
            accept_again_at: None,
            last_accept_error_log: 0,
            next_cron: now,
            last_idle_check: now,
            ops_sample: (now, 0),
            expiry_pending: false,
            freed_buffer_bytes: 0,
            clients_cron_cursor: 0,
            block_timers: TimerWheel::new(now),
            shutting_down: false,
            signal_pending: false,
            snapshot_busy: false,
        })
    }

    /// Handles SIGTERM and SIGINT by shutting down gracefully.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The statistics, shared with the metrics thread.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Runs until SHUTDOWN or a termination signal, then flushes replies and returns.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // Clients are answered from now on (with -LOADING while the dataset loads); the
        // server is ready, as Redis says, once it is loaded.
        for token in 0..self.listeners {
            if let Some(Socket::Listener(l)) = self.sockets.get(token)
                && let Ok(addr) = l.local_addr()
            {
                log::info!("listening on {addr}");
            }
        }
        if self.shared.loading.is_none() {
            log::info!("ready to accept connections on {}", self.local_addr);
            crate::config::process::notify_ready();
        }
        let mut busy = false;
        while !self.shutting_down {
            let timeout = self.poll_timeout();
            if let Err(e) = self.wait_for_events(&mut events, timeout, busy) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            busy = !events.is_empty();
            for event in events.iter() {
                let token = event.token();
                if token == SIGNAL_TOKEN {
                    self.on_signal();
                } else if token.0 < self.listeners {
                    self.accept_clients();
                } else {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read_client(token.0);
                    }
                    if event.is_writable() {
                        self.queue_flush(token.0);
                    }
                }
            }
            self.process_ready();
            self.after_events();
            if self.shared.loading.is_some() {
                let now = now_ms();
                match crate::cmd::loading::step(&mut self.store, &mut self.shared, now) {
                    Ok(more) => {
                        self.snapshot_busy = more;
                        if !more {
                            log::info!("ready to accept connections on {}", self.local_addr);
                            crate::config::process::notify_ready();
                        }
                    }
                    Err(e) => {
                        log::error!("{e}");
                        return Err(io::Error::other("the dataset could not be loaded"));
                    }
                }
            } else if self.shared.persist.bgsave.is_some() {
                self.snapshot_busy =
                    persistence::bgsave_step(&mut self.store, &mut self.shared, now_ms());
            } else if self.shared.aof.rewrite.is_some() {
                self.snapshot_busy =
                    crate::cmd::aof::rewrite_step(&mut self.store, &mut self.shared, now_ms());
            }
        }
        self.shutdown();
        Ok(())
    }

    /// Waits for readiness events. Right after a turn that had work, it first polls without
    /// blocking for a few microseconds: under load the next requests are usually in flight,
    /// and catching them without going to sleep saves the wake-up, which at one request per
    /// client round trip is a large part of the latency. An idle server blocks at once.
    fn wait_for_events(
        &mut self,
        events: &mut Events,
        timeout: Duration,
        busy: bool,
    ) -> io::Result<()> {
        let spin_ns = self.shared.config.busy_poll_us.saturating_mul(1000);
        if busy && !timeout.is_zero() && spin_ns != 0 {
            let start = clock::ticks();
            loop {
                self.poll.poll(events, Some(Duration::ZERO))?;
                if !events.is_empty() || clock::nanos_between(start, clock::ticks()) >= spin_ns {
                    break;
                }
                // Pause between polls: each epoll_wait takes the epoll lock that a client's
                // send must take too to queue its wake-up, so polling flat out slows the
                // very clients we wait for.
                let pause = clock::ticks();
                while clock::nanos_between(pause, clock::ticks()) < SPIN_PAUSE_NS {
                    std::hint::spin_loop();
                }
            }
            if !events.is_empty() {
                return Ok(());
            }
        }
        self.poll.poll(events, Some(timeout))
    }

    /// Work done every turn after the readiness events: pending reads, accepts, expiry,
    /// cron, gauges, and finally the writes.
    fn after_events(&mut self) {
        for token in std::mem::take(&mut self.to_read) {
            self.read_client(token);
        }
        self.process_ready();
        let now = now_ms();
        if self.accept_again_at.is_some_and(|at| now >= at) {
            self.accept_clients();
        }
        // While CLIENT PAUSE is on the dataset must not change: the expiry cycle waits (and
        // while the dataset loads, as Redis's loading runs before any cycle).
        let paused = self.shared.pause.active()
            && crate::cmd::pause::check_timeout(&mut self.shared, &mut self.store, now);
        if paused || self.shared.loading.is_some() || !self.shared.active_expire {
            self.expiry_pending = false;
        } else {
            let started = Instant::now();
            self.expiry_pending = self.store.expire_due(now, started + EXPIRE_BUDGET);
            if self.shared.params.settings.latency_monitor_threshold_ms != 0 {
                let ms = started.elapsed().as_millis() as u64;
                crate::cmd::latency::sample_if_needed(&mut self.shared, "expire-cycle", ms);
            }
        }
        if self.shared.propagation.on {
            crate::cmd::propagate::after_loop_work(&mut self.store, &mut self.shared);
        }
        if self.shared.release_postponed {
            self.release_postponed();
        }
        if self.store.has_events() {
            self.publish_expired(now);
        }
        if self.shared.tracking.active() {
            self.tracking_turn(now);
        }
        if !self.block_timers.is_empty() {
            self.expire_blocked(now);
        }
        if now >= self.next_cron {
            self.cron(now);
        }
        self.publish_gauges();
        self.flush_all();
    }

    /// Time until something is due: 0 when work is pending, else the next expiry deadline
    /// or cron tick, whichever is sooner.
    fn poll_timeout(&self) -> Duration {
        if !self.to_read.is_empty()
            || !self.ready.is_empty()
            || self.expiry_pending
            || self.snapshot_busy
        {
            return Duration::ZERO;
        }
        let now = now_ms();
        let mut due = self.next_cron;
        if self.shared.persist.bgsave.is_some() {
            // Waiting for the disk: look again soon.
            due = due.min(now + 1);
        }
        if let Some(at) = self.store.next_timer() {
            due = due.min(at);
        }
        if let Some(at) = self.block_timers.next_deadline() {
            due = due.min(at);
        }
        if self.shared.pause.active() {
            // Over once the clock passes its end.
            due = due.min(self.shared.pause.end_ms + 1);
        }
        if let Some(at) = self.accept_again_at {
            due = due.min(at);
        }
        Duration::from_millis(due.saturating_sub(now))
    }

    fn on_signal(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        for sig in signals.pending() {
            log::info!("received signal {sig}, shutting down");
            if !crate::cmd::aof::prepare_shutdown(&mut self.store, &mut self.shared, false) {
                continue;
            }
            // With save points set, Redis saves first, and stays up if it cannot (not while
            // loading: the file would lose what is not loaded yet).
            if !self.shared.params.settings.rdb.save_points.is_empty()
                && self.shared.loading.is_none()
            {
                if let Some(s) = self.shared.persist.bgsave.take() {
                    let _ = s.abort(&mut self.store);
                }
                log::info!("Saving the final RDB snapshot before exiting.");
                if persistence::save_now(&mut self.store, &mut self.shared, now_ms()).is_err() {
                    log::warn!("Error trying to save the DB, can't exit.");
                    continue;
                }
            }
            self.shutting_down = true;
        }
    }

    /// Accepts pending connections on every listener (edge-triggered: until WouldBlock, at
    /// most a batch each).
    fn accept_clients(&mut self) {
        self.accept_again_at = None;
        for token in 0..self.listeners {
            self.accept_from(token);
        }
    }

    fn accept_from(&mut self, token: usize) {
        for _ in 0..ACCEPT_BATCH {
            let Some(Socket::Listener(listener)) = self.sockets.get(token) else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => self.add_client(stream, addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: log at most once a second, retry later
                    // instead of spinning on a listener that stays readable.
                    let now = now_ms();
                    if now.saturating_sub(self.last_accept_error_log) >= 1000 {
                        log::warn!("accept failed: {e}; retrying in 100 ms");
                        self.last_accept_error_log = now;
                    }
                    self.accept_again_at = Some(now + 100);
                    return;
                }
            }
        }
        // Batch limit reached: more may be waiting, and no new edge will tell us.
        self.accept_again_at = Some(now_ms());
    }

    fn add_client(&mut self, stream: TcpStream, addr: SocketAddr) {
        accept_client(
            &self.poll,
            &mut self.sockets,
            &mut self.shared,
            &mut self.clients,
            &mut self.next_client_id,
            stream,
            addr,
        );
    }

    fn conn(&mut self, token: usize) -> Option<&mut Conn> {
        match self.sockets.get_mut(token) {
            Some(Socket::Client(c)) => Some(c),
            _ => None,
        }
    }

    /// Reads once from a client; if requests arrived, queues it to run them this turn.
    fn read_client(&mut self, token: usize) {
        let shared = &self.shared;
        let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
            return;
        };
        if conn.kill || conn.client.close_after_reply {
            return;
        }
        match conn.read_once(shared) {
            Ok(ReadResult::Data { full }) => {
                if full {
                    self.to_read.push(token);
                }
                self.ready.push(token);
            }
            Ok(ReadResult::WouldBlock) => {}
            Ok(ReadResult::Closed) => self.close(token),
            Err(e) => {
                log::debug!("read error on token {token}: {e}");
                self.close(token);
            }
        }
    }

    /// Runs the requests of every client read this turn. All their keys are prefetched
    /// first, so the cache misses of the lookups overlap (see `Db::prefetch`).
    ///
    /// The commands' clock (`now`, ms since the epoch, for expiry and TTLs) is the system
    /// clock, read once here, after the batch's reads: every request was sent before it,
    /// so `now` is never behind the clock its client saw when sending (`PEXPIREAT k <now>`
    /// finds the key expired; `PXAT <now + 10000>` has a PTTL of at most 10000). One vDSO
    /// `clock_gettime` per batch; a TSC-derived wall clock lagged by up to a millisecond.
    fn process_ready(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        let now = now_ms();
        let ready = std::mem::take(&mut self.ready);
        for &token in &ready {
            if let Some(Socket::Client(conn)) = self.sockets.get(token) {
                conn.prefetch_keys(&self.store, &mut self.prefetch);
            }
        }
        self.prefetch.run(&self.store);
        for &token in &ready {
            self.process(token, now);
        }
        // Keep the allocation for the next turn, unless processing queued more clients
        // (unblocked waiters whose pipelined input must run): those stay queued.
        if self.ready.is_empty() {
            let mut ready = ready;
            ready.clear();
            self.ready = ready;
        }
    }

    /// Runs the buffered requests of a client with the batch's clock `now`, serving
    /// event-loop requests in between.
    fn process(&mut self, token: usize, now: u64) {
        self.shared.last_tick = clock::ticks();
        loop {
            // The client leaves the slab while its commands run, so that the turns of a
            // busy script (net::busy) may serve every other connection.
            let mut conn = match self.sockets.get_mut(token) {
                Some(slot @ Socket::Client(_)) => match std::mem::replace(slot, Socket::Running) {
                    Socket::Client(c) => c,
                    _ => unreachable!("the slot held a client"),
                },
                _ => return,
            };
            let mut busy = BusyParts {
                poll: &mut self.poll,
                sockets: &mut self.sockets,
                listeners: self.listeners,
                clients: &mut self.clients,
                next_client_id: &mut self.next_client_id,
                to_flush: &mut self.to_flush,
                to_read: &mut self.to_read,
                signal_pending: &mut self.signal_pending,
            };
            let request = {
                let _guard =
                    crate::net::busy::enter((&mut busy as *mut BusyParts).cast(), busy_turn);
                conn.process(&mut self.store, &mut self.shared, now)
            };
            self.sockets[token] = Socket::Client(conn);
            if self.signal_pending {
                self.signal_pending = false;
                self.on_signal();
            }
            if self.shared.loop_work {
                self.loop_work(now);
            }
            let Some(request) = request else {
                break;
            };
            self.serve_request(token, request);
        }
        let settings = &self.shared.params.settings;
        let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
            return;
        };
        // Replies written by the loop itself (CLIENT LIST) count too.
        if !conn.kill && output_limit_reached(conn.out.len(), &mut conn.client, settings, now) {
            conn.close_for_output_limit(now);
        }
        if !conn.out.is_empty() || conn.client.close_after_reply || conn.kill {
            self.queue_flush(token);
        }
    }

    /// Performs what a handler asked of the event loop, replying to the caller.
    fn serve_request(&mut self, token: usize, request: Request) {
        let now = now_ms();
        match request {
            Request::ClientList(ids) => {
                let mut text = String::new();
                for (_, s) in self.sockets.iter() {
                    if let Socket::Client(c) = s
                        && ids.as_ref().is_none_or(|ids| ids.contains(&c.client.id))
                    {
                        let tracking = self.shared.tracking.client(c.client.id);
                        text.push_str(&c.info_line(now, tracking));
                        text.push('\n');
                    }
                }
                if let Some(conn) = self.conn(token) {
                    conn.out.verbatim(text.as_bytes());
                }
            }
            Request::ClientInfo => {
                if let Some(Socket::Client(conn)) = self.sockets.get_mut(token) {
                    let tracking = self.shared.tracking.client(conn.client.id);
                    let line = conn.info_line(now, tracking) + "\n";
                    conn.out.verbatim(line.as_bytes());
                }
            }
            Request::ClientKill(filter) => self.kill_clients(token, filter),
            Request::LoopWork => {}
            Request::ClientUnblock { id, error } => {
                let target = self.sockets.iter().find_map(|(t, s)| match s {
                    Socket::Client(c) if c.client.id as i64 == id => Some(t),
                    _ => None,
                });
                let mut done = false;
                if let Some(t) = target
                    && let Some(Socket::Client(c)) = self.sockets.get_mut(t)
                    && let Some(b) = &c.client.blocked
                {
                    if error {
                        c.out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                    } else {
                        b.reply_timeout(&mut c.out);
                    }
                    self.shared.stats.commands[b.slot].record(0, true);
                    crate::cmd::slowlog::record_unblocked(&mut self.shared, &c.client, b, b.ran_ns);
                    self.unblock(t);
                    done = true;
                }
                if let Some(conn) = self.conn(token) {
                    conn.out.int(i64::from(done));
                }
            }
            Request::Shutdown => {
                log::info!("SHUTDOWN requested by a client");
                self.shutting_down = true;
            }
        }
    }

    /// What a command left for the loop (ARCHITECTURE.md, "one client's command reaching
    /// other clients"): copies queued messages into their recipients' reply buffers, each
    /// in the protocol its recipient speaks, applying the recipients' output limits.
    fn loop_work(&mut self, now: u64) {
        self.shared.loop_work = false;
        if self.shared.release_postponed {
            self.release_postponed();
        }
        for token in std::mem::take(&mut self.shared.newly_blocked) {
            self.arm_block_timer(token);
        }
        if self.store.has_ready() {
            self.serve_blocked(now);
        }
        let mut outbox = self.shared.pubsub.take_outbox();
        let settings = &self.shared.params.settings;
        let mut delivered = 0;
        for (token, message) in outbox.drain(..) {
            let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
                continue;
            };
            if conn.kill {
                continue;
            }
            let subscribed = conn.client.pubsub.total() > 0;
            delivered += u64::from(message.append_to(&mut conn.out, subscribed));
            if output_limit_reached(conn.out.len(), &mut conn.client, settings, now) {
                conn.close_for_output_limit(now);
            }
            if !conn.flush_queued {
                conn.flush_queued = true;
                self.to_flush.push(token);
            }
        }
        self.shared.pubsub.delivered += delivered;
        self.shared.pubsub.return_outbox(outbox);
    }

    /// The pause ended or relaxed: postponed clients run again, in the order they were
    /// held (their commands go through dispatch anew, and may be held again).
    fn release_postponed(&mut self) {
        self.shared.release_postponed = false;
        for token in std::mem::take(&mut self.shared.postponed) {
            if let Some(conn) = self.conn(token) {
                conn.client.paused = false;
                self.ready.push(token);
            }
        }
    }

    /// Schedules the timeout of a client that just blocked.
    fn arm_block_timer(&mut self, token: usize) {
        let Some(Socket::Client(conn)) = self.sockets.get(token) else {
            return;
        };
        if let Some(b) = &conn.client.blocked
            && b.deadline != 0
        {
            // Timed out once the clock has passed the deadline (Redis: `timeout < now`),
            // never in its last millisecond.
            self.block_timers
                .insert(b.deadline + 1, block_timer(token, conn.client.id));
        }
    }

    /// Serves clients blocked on keys that writes readied (Redis's
    /// handleClientsBlockedOnKeys): for each key in the order it was readied, its waiters
    /// first come first served while the key holds data for them. Serving can ready more
    /// keys (BLMOVE pushes to its target), so this repeats until none is ready.
    fn serve_blocked(&mut self, now: u64) {
        while self.store.has_ready() {
            for (db, key) in self.store.take_ready() {
                for token in self.store.db_ref(db).waiters(&key) {
                    let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
                        continue;
                    };
                    let conn = &mut **conn;
                    self.shared.last_tick = clock::ticks();
                    let mut ctx = Ctx {
                        store: &mut self.store,
                        client: &mut conn.client,
                        out: &mut conn.out,
                        shared: &mut self.shared,
                        now,
                    };
                    if !crate::cmd::blocking::serve(&mut ctx, &key) {
                        // The key does not serve this client; its data (if any) is
                        // left for the next waiter.
                        continue;
                    }
                    // BLMOVE's push is the waiter's change (its invalidation follows its reply).
                    if self.store.has_touched() {
                        let id = conn.client.id;
                        crate::cmd::tracking::invalidate_touched(
                            &mut self.shared,
                            &mut self.store,
                            Some(id),
                        );
                    }
                    self.unblock(token);
                }
            }
        }
    }

    /// Ends a client's wait (its reply is already written): it leaves the waiters of its
    /// keys, and its pipelined input runs again.
    fn unblock(&mut self, token: usize) {
        let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
            return;
        };
        let Some(b) = conn.client.blocked.take() else {
            return;
        };
        self.store.unblock(b.db, &b.keys, token);
        if !conn.flush_queued {
            conn.flush_queued = true;
            self.to_flush.push(token);
        }
        self.ready.push(token);
    }

    /// Times out blocked clients whose deadline passed: each gets its command's null
    /// reply (a timer of a client no longer blocked with that deadline does nothing).
    fn expire_blocked(&mut self, now: u64) {
        let mut due = Vec::new();
        self.block_timers
            .advance(now, usize::MAX, |timer, _| due.push(timer));
        for timer in due {
            let token = (timer.hash >> 32) as usize;
            let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
                continue;
            };
            let matches = conn.client.id & 0xffff_ffff == timer.hash & 0xffff_ffff
                && conn
                    .client
                    .blocked
                    .as_ref()
                    .is_some_and(|b| b.deadline + 1 == timer.deadline);
            if !matches {
                continue;
            }
            if let Some(b) = &conn.client.blocked {
                b.reply_timeout(&mut conn.out);
                self.shared.stats.commands[b.slot].record(0, false);
                crate::cmd::slowlog::record_unblocked(&mut self.shared, &conn.client, b, b.ran_ns);
            }
            self.unblock(token);
        }
    }

    /// Client-side caching at the end of a loop turn: keys that changed outside commands
    /// (the expiry cycle) are invalidated, and the BCAST messages collected during the turn
    /// go out (Redis's trackingBroadcastInvalidationMessages in beforeSleep).
    fn tracking_turn(&mut self, now: u64) {
        if self.store.has_touched() {
            crate::cmd::tracking::invalidate_touched(&mut self.shared, &mut self.store, None);
        }
        if self.shared.tracking.bcast_pending() {
            crate::cmd::tracking::broadcast(&mut self.shared);
        }
        if self.shared.pubsub.has_outbox() {
            self.loop_work(now);
        }
    }

    /// Publishes the `expired` events of keys the expiry cycle removed (no client ran a
    /// command: nobody gets a copy first).
    fn publish_expired(&mut self, now: u64) {
        let flags = self.shared.params.settings.notify_keyspace_events;
        for (db, class, event, key) in self.store.take_events() {
            crate::cmd::notify::publish_event(
                &mut self.shared.pubsub,
                flags,
                db,
                class,
                event,
                &key,
                None,
            );
        }
        if self.shared.pubsub.has_outbox() {
            self.loop_work(now);
        }
    }

    fn kill_clients(&mut self, caller: usize, filter: KillFilter) {
        let mut killed = 0;
        let legacy = matches!(filter, KillFilter::LegacyAddr(_));
        for (token, s) in self.sockets.iter_mut() {
            let Socket::Client(c) = s else { continue };
            let hit = match &filter {
                KillFilter::LegacyAddr(addr) => c.addr.to_string() == *addr,
                KillFilter::Filters {
                    id,
                    addr,
                    laddr,
                    skip_me,
                } => {
                    !(*skip_me && token == caller)
                        && id.is_none_or(|id| id == c.client.id)
                        && addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
                        && laddr.as_ref().is_none_or(|a| *a == c.laddr.to_string())
                }
            };
            if hit {
                killed += 1;
                if token == caller {
                    // Reply first, then close.
                    c.client.close_after_reply = true;
                } else {
                    c.kill = true;
                    if !c.flush_queued {
                        c.flush_queued = true;
                        self.to_flush.push(token);
                    }
                }
            }
        }
        let Some(conn) = self.conn(caller) else {
            return;
        };
        if legacy {
            if killed > 0 {
                conn.out.ok();
            } else {
                conn.out.error("ERR No such client");
            }
        } else {
            conn.out.int(killed);
        }
    }

    fn queue_flush(&mut self, token: usize) {
        if let Some(conn) = self.conn(token)
            && !conn.flush_queued
        {
            conn.flush_queued = true;
            self.to_flush.push(token);
        }
    }

    /// Writes every queued client's replies; arms WRITABLE only for leftovers.
    fn flush_all(&mut self) {
        // Writes reach the append-only file before their replies reach the clients.
        crate::cmd::aof::write_pending(&mut self.shared);
        let mut queue = std::mem::take(&mut self.to_flush);
        for &token in &queue {
            self.flush_one(token);
        }
        queue.clear();
        // Keep the allocation (flush_one may have queued nothing new).
        if self.to_flush.is_empty() {
            self.to_flush = queue;
        }
    }

    fn flush_one(&mut self, token: usize) {
        let shared = &self.shared;
        let registry = self.poll.registry();
        let Some(Socket::Client(conn)) = self.sockets.get_mut(token) else {
            return;
        };
        conn.flush_queued = false;
        if conn.kill {
            self.close(token);
            return;
        }
        match conn.flush(shared) {
            Ok(true) => {
                if conn.client.close_after_reply {
                    self.close(token);
                    return;
                }
                if conn.writable_armed {
                    conn.writable_armed = false;
                    if let Err(e) =
                        registry.reregister(&mut conn.stream, Token(token), Interest::READABLE)
                    {
                        log::debug!("reregister token {token}: {e}");
                        self.close(token);
                    }
                }
            }
            Ok(false) => {
                if !conn.writable_armed {
                    conn.writable_armed = true;
                    if let Err(e) = registry.reregister(
                        &mut conn.stream,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        log::debug!("reregister token {token}: {e}");
                        self.close(token);
                    }
                }
            }
            Err(e) => {
                log::debug!("write error on token {token}: {e}");
                self.close(token);
            }
        }
    }

    fn close(&mut self, token: usize) {
        if !matches!(self.sockets.get(token), Some(Socket::Client(_))) {
            return;
        }
        if let Socket::Client(mut conn) = self.sockets.remove(token) {
            self.freed_buffer_bytes += conn.buffer_bytes() + std::mem::size_of::<Conn>();
            // The token is free from here on: no registry may name it any more.
            self.shared.pubsub.forget(&mut conn.client.pubsub, token);
            if let Some(b) = conn.client.blocked.take() {
                self.store.unblock(b.db, &b.keys, token);
            }
            crate::cmd::monitor::stop(&mut self.shared.monitors, &mut conn.client);
            self.shared.clients_by_id.remove(&conn.client.id);
            if self.shared.tracking.active() {
                crate::cmd::tracking::disable(&mut self.shared, &mut self.store, conn.client.id);
            }
            if conn.client.paused {
                self.shared.postponed.retain(|&t| t != token);
            }
            crate::cmd::transactions::unwatch_all(&mut self.store, &mut conn.client);
            let _ = self.poll.registry().deregister(&mut conn.stream);
            log::debug!("closed {}", conn.addr);
        }
        self.clients -= 1;
        set(&self.shared.stats.connected_clients, self.clients as u64);
    }

    /// Housekeeping every 100 ms: instantaneous ops/sec, memory peak; once a second: idle
    /// timeouts, release of idle buffers, and giving hash table memory back.
    fn cron(&mut self, now: u64) {
        // Redis's hz: how many times a second the cron runs.
        self.next_cron = now + 1000 / u64::from(self.shared.params.settings.hz.max(1));
        let stats = &self.shared.stats;
        let processed: u64 = stats
            .commands
            .iter()
            .map(|c| crate::metrics::stats::get(&c.calls))
            .sum();
        let (t0, n0) = self.ops_sample;
        if now > t0 {
            self.shared.ops_per_sec = processed.saturating_sub(n0) * 1000 / (now - t0);
        }
        self.ops_sample = (now, processed);
        let used = crate::alloc::allocated() as u64;
        self.shared.peak_memory = self.shared.peak_memory.max(used);
        set(&stats.used_memory, used);
        self.publish_for_metrics();

        self.clients_cron(now);
        crate::alloc::release_idle();
        self.shared.migrate.close_idle(now / 1000);
        if self.shared.loading.is_none() {
            self.eviction_cron(now);
            persistence::cron(&mut self.store, &mut self.shared, now);
            crate::cmd::aof::cron(&mut self.store, &mut self.shared, now);
        }
        if self.shared.tracking.active() {
            // A lowered tracking-table-max-keys applies even to an idle server.
            crate::cmd::tracking::limit(&mut self.shared);
            if self.shared.loop_work {
                self.loop_work(now);
            }
        }
        if now.saturating_sub(self.last_idle_check) < 1000 {
            return;
        }
        self.last_idle_check = now;
        self.store.cron();
        self.trim_heap();
    }

    /// Carries on an eviction pass that stopped at its time limit, or applies a limit
    /// nobody has written past yet (Redis's evictionTimeProc). Events go out through a
    /// client of its own, as the expiry cycle's do.
    fn eviction_cron(&mut self, now: u64) {
        let memory = self.shared.params.settings.memory;
        if memory.maxmemory == 0
            || (!self.shared.eviction.pending
                && crate::cmd::memory::used_memory() <= memory.maxmemory)
        {
            return;
        }
        let mut client = Client::new(0, true, now);
        let mut out = crate::resp::Reply::new();
        let mut ctx = Ctx {
            store: &mut self.store,
            client: &mut client,
            out: &mut out,
            shared: &mut self.shared,
            now,
        };
        crate::cmd::memory::cron(&mut ctx);
        crate::cmd::propagate::after_loop_work(&mut self.store, &mut self.shared);
        if self.shared.loop_work || self.shared.pubsub.has_outbox() {
            self.loop_work(now);
        }
    }

    /// Redis's clientsCron: each cron turn visits a slice of the clients (at least 5, and
    /// every client at least once a second), closing those idle past `timeout` and trimming
    /// their buffers. With few clients each is visited every turn, so a buffer trimmed
    /// after its peak passes is trimmed within a tenth of a second.
    fn clients_cron(&mut self, now: u64) {
        let settings = &self.shared.params.settings;
        let batch = (self.clients / settings.hz.max(1) as usize).max(5);
        let timeout_ms = settings.timeout.saturating_mul(1000);
        let slots = self.sockets.capacity().max(1);
        let mut idle = Vec::new();
        let (mut visited, mut scanned) = (0, 0);
        while visited < batch && scanned < slots {
            let token = self.clients_cron_cursor % slots;
            self.clients_cron_cursor = token + 1;
            scanned += 1;
            let Some(Socket::Client(c)) = self.sockets.get_mut(token) else {
                continue;
            };
            visited += 1;
            let quiet_ms = now.saturating_sub(c.client.last_active_ms);
            // A blocked client waits for its own timeout, not the idle one (as Redis).
            if timeout_ms > 0 && quiet_ms > timeout_ms && c.client.blocked.is_none() {
                idle.push(token);
            } else {
                self.freed_buffer_bytes += c.resize_buffers(quiet_ms / 1000);
            }
        }
        for token in idle {
            log::debug!(
                "closing idle client (timeout {}s)",
                self.shared.params.settings.timeout
            );
            self.close(token);
        }
    }

    /// Hands freed heap memory back to the system once client buffers worth at least
    /// [`TRIM_AFTER_FREED`] were released since the last time. glibc keeps what is freed in
    /// the middle of its heap (10,000 closed clients left 165 MB resident); jemalloc, which
    /// Redis uses, gives it back by itself.
    fn trim_heap(&mut self) {
        if self.freed_buffer_bytes < TRIM_AFTER_FREED {
            return;
        }
        self.freed_buffer_bytes = 0;
        let started = Instant::now();
        crate::alloc::trim();
        log::debug!("heap trimmed in {:?}", started.elapsed());
    }

    /// Publishes keyspace-wide gauges for the metrics thread (a few loads and stores).
    fn publish_gauges(&self) {
        let stats = &self.shared.stats;
        let mut keys = 0;
        let mut expires = 0;
        for (db, slot) in self.store.dbs().iter().zip(stats.db_keys.iter()) {
            set(&slot.0, db.len() as u64);
            set(&slot.1, db.expires() as u64);
            keys += db.len();
            expires += db.expires();
        }
        set(&stats.keys, keys as u64);
        set(&stats.keys_with_expiry, expires as u64);
        set(&stats.expired_keys, self.store.expired_total());
        set(&stats.blocked_clients, self.store.blocked_clients() as u64);
        self.shared.pubsub.publish_stats(stats);
    }

    /// Copies settings and reactor state that the metrics thread shows (redis_exporter's
    /// names, the live console) into `Stats::published`: a few stores per cron tick, and
    /// the slow log's newest entries only when it changed (see `metrics::published`).
    fn publish_for_metrics(&self) {
        let shared = &self.shared;
        let p = &shared.stats.published;
        let settings = &shared.params.settings;
        p.identity
            .get_or_init(|| crate::metrics::published::Identity {
                redis_version: crate::cmd::server::REDIS_VERSION,
                os: crate::cmd::server::os_name().to_string(),
                run_id: shared.run_id.clone(),
                tcp_port: settings.port,
            });
        set(&p.maxmemory, settings.memory.maxmemory);
        p.set_policy(settings.memory.policy.name());
        set(&p.maxclients, settings.maxclients);
        set(&p.peak_memory, shared.peak_memory);
        set(&p.paused_clients, shared.postponed.len() as u64);
        set(&p.loading, u64::from(shared.loading.is_some()));
        let persist = &shared.persist;
        set(
            &p.rdb_last_bgsave_ok,
            u64::from(!persist.last_bgsave_failed),
        );
        set(
            &p.rdb_last_bgsave_secs_plus_one,
            (persist.last_bgsave_secs + 1).max(0) as u64,
        );
        set(&p.latency_tracking, u64::from(settings.latency_tracking));
        p.publish_percentiles(&settings.latency_percentiles);
        let slowlog = &shared.slowlog;
        set(&p.slowlog_len, slowlog.len() as u64);
        let (last_id, last_us) = slowlog
            .newest_entry()
            .map_or((0, 0), |(id, us)| (id + 1, us));
        set(&p.slowlog_last_id_plus_one, last_id);
        set(&p.slowlog_last_us, last_us);
        p.publish_slowlog(slowlog.change_mark(), || {
            slowlog.newest(crate::metrics::published::SLOWLOG_SHOWN)
        });
    }

    /// Graceful shutdown: stop accepting, then give every pending reply up to two seconds
    /// to reach its client.
    fn shutdown(&mut self) {
        for token in 0..self.listeners {
            if let Some(Socket::Listener(mut l)) = self.sockets.try_remove(token) {
                let _ = self.poll.registry().deregister(&mut l);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut events = Events::with_capacity(256);
        loop {
            let pending: Vec<usize> = self
                .sockets
                .iter()
                .filter_map(|(t, s)| match s {
                    Socket::Client(c) if !c.out.is_empty() && !c.kill => Some(t),
                    _ => None,
                })
                .collect();
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            for t in pending {
                self.flush_one(t);
            }
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(10)));
        }
        let tokens: Vec<usize> = self.sockets.iter().map(|(t, _)| t).collect();
        for t in tokens {
            self.close(t);
        }
        log::info!("server stopped");
    }
}

/// Takes an accepted socket as a new client (the listener's work; also done during a
/// busy script's turns, so that SCRIPT KILL can come from a new connection).
fn accept_client(
    poll: &Poll,
    sockets: &mut Slab<Socket>,
    shared: &mut Shared,
    clients: &mut usize,
    next_client_id: &mut u64,
    mut stream: TcpStream,
    addr: SocketAddr,
) {
    let stats = &shared.stats;
    if *clients as u64 >= shared.params.settings.maxclients {
        // Best effort: the socket is fresh, so this small write almost always fits.
        let _ = stream.write(b"-ERR max number of clients reached\r\n");
        bump(&stats.rejected_connections, 1);
        log::debug!("refused {addr}: max number of clients reached");
        return;
    }
    let settings = &shared.params.settings;
    let local = crate::config::Params::is_local(addr.ip());
    if settings.protected_mode && settings.requirepass.is_none() && !local {
        let _ = stream.write(PROTECTED_MODE_DENIED.as_bytes());
        bump(&stats.rejected_connections, 1);
        log::debug!("refused {addr}: protected mode");
        return;
    }
    // As Redis's total_connections_received: refused connections are not counted.
    bump(&stats.connections_received, 1);
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("TCP_NODELAY on {addr}: {e}");
    }
    let keepalive = shared.params.settings.tcp_keepalive;
    if keepalive > 0
        && let Err(e) = crate::net::set_keepalive(&stream, keepalive)
    {
        log::debug!("SO_KEEPALIVE on {addr}: {e}");
    }
    let entry = sockets.vacant_entry();
    let token = entry.key();
    if let Err(e) = poll
        .registry()
        .register(&mut stream, Token(token), Interest::READABLE)
    {
        log::warn!("cannot register client {addr}: {e}");
        return;
    }
    let settings = &shared.params.settings;
    let mut client = Client::new(*next_client_id, settings.requirepass.is_none(), now_ms());
    client.local = local;
    client.token = token;
    client.addr = Some(addr);
    shared.clients_by_id.insert(client.id, token);
    *next_client_id += 1;
    let conn = Conn::new(stream, addr, client, settings.proto_max_bulk_len as usize);
    entry.insert(Socket::Client(Box::new(conn)));
    *clients += 1;
    set(&stats.connected_clients, *clients as u64);
    log::debug!("accepted {addr} as token {token}");
}

/// What a busy script's turn may use of the server: everything but the keyspace, the
/// shared state (the script lends its own) and the running client, which is out of the slab.
struct BusyParts {
    poll: *mut Poll,
    sockets: *mut Slab<Socket>,
    listeners: usize,
    clients: *mut usize,
    next_client_id: *mut u64,
    to_flush: *mut Vec<usize>,
    to_read: *mut Vec<usize>,
    signal_pending: *mut bool,
}

/// One loop turn while a script is busy: new clients are accepted, every readable client's
/// complete requests are answered (-BUSY, or the allow-busy commands) and replies are
/// written at once. Read clients are queued to be read again by the loop afterwards
/// (readiness is edge-triggered), and closed ones to be closed by it.
///
/// # Safety
/// `state` is the `BusyParts` that `Server::process` registered, alive for this call.
unsafe fn busy_turn(
    state: *mut (),
    shared: &mut Shared,
    store: &mut crate::store::Store,
    script: &mut crate::net::busy::Script,
) {
    // SAFETY: see above; the parts point at fields of the server that nothing else uses
    // while the running client's command is in progress.
    let parts = unsafe { &mut *state.cast::<BusyParts>() };
    let (poll, sockets) = unsafe { (&mut *parts.poll, &mut *parts.sockets) };
    // Replies of the turn may go out below: the writes they acknowledge first.
    crate::cmd::aof::write_pending(shared);
    let mut events = Events::with_capacity(256);
    if poll.poll(&mut events, Some(Duration::ZERO)).is_err() {
        return;
    }
    for event in events.iter() {
        let token = event.token();
        if token == SIGNAL_TOKEN {
            unsafe { *parts.signal_pending = true };
            continue;
        }
        if token.0 < parts.listeners {
            for _ in 0..ACCEPT_BATCH {
                let Some(Socket::Listener(listener)) = sockets.get(token.0) else {
                    break;
                };
                match listener.accept() {
                    Ok((stream, addr)) => unsafe {
                        accept_client(
                            poll,
                            sockets,
                            shared,
                            &mut *parts.clients,
                            &mut *parts.next_client_id,
                            stream,
                            addr,
                        );
                    },
                    Err(_) => break,
                }
            }
            continue;
        }
        let Some(Socket::Client(conn)) = sockets.get_mut(token.0) else {
            continue;
        };
        if !conn.kill && (event.is_readable() || event.is_read_closed() || event.is_error()) {
            match conn.read_once(shared) {
                Ok(ReadResult::Data { .. } | ReadResult::WouldBlock) => {}
                Ok(ReadResult::Closed) | Err(_) => conn.kill = true,
            }
            // Readiness is edge-triggered: the loop reads it again once the script ends.
            unsafe { (*parts.to_read).push(token.0) };
        }
    }
    // Every client's complete requests are answered, including those the loop had read
    // before the script started (no new readiness event will come for them), and pending
    // replies are written at once.
    for (token, socket) in sockets.iter_mut() {
        let Socket::Client(conn) = socket else {
            continue;
        };
        let waiting = conn.client.blocked.is_some() || conn.client.paused;
        if !conn.kill
            && !waiting
            && conn.query_buffer_len() > 0
            && conn.answer_busy(script, shared, store)
        {
            shared.request = Some(crate::cmd::Request::Shutdown);
        }
        if !conn.kill && !conn.out.is_empty() && conn.flush(shared).is_err() {
            conn.kill = true;
        }
        if (conn.kill || !conn.out.is_empty() || conn.client.close_after_reply)
            && !conn.flush_queued
        {
            conn.flush_queued = true;
            unsafe { (*parts.to_flush).push(token) };
        }
    }
}
