//! [`StreamDecoder`]: raw WebSocket bytes of a vendor stream in, columnar trades, quotes and
//! aggregates out, with duplicate suppression and gap bookkeeping.
//!
//! # Gaps
//! A stream can lose data: the connection drops, or the vendor's upstream disconnects (ThetaData
//! `STATUS` `DISCONNECTED`). The decoder then opens a *gap* that remembers, per symbol, the
//! newest trade time received. From then on decoded trades are **held** (not released). The first
//! trade after the gap marks that data resumed (`until`, and a `gap_ready` event); the first
//! trade of each symbol after the gap (`first`) and the newest one (`newest`) are recorded. Once
//! every subscription has resumed, the caller fetches the missing trades of each symbol over
//! REST from its last trade before the gap up to `newest` and hands them to
//! [`StreamDecoder::close_gap`], which merges them with the held trades in time order and
//! releases them through the sequence filter, so overlaps are dropped and bars see every trade
//! once and in time order.
//! A new gap while one is open starts a new held segment; gaps close oldest first.
//!
//! Quotes and aggregates are never held: they describe state, and a missed one is superseded by
//! the next.

use super::columns::{AggColumns, QuoteColumns, SymbolInterner, Trade, TradeColumns};
use super::nytime::NyClock;
use super::sequence::{SequenceFilter, Verdict};
use super::ws::{FrameError, FrameReader, Opcode};
use super::{massive, theta};

/// Which vendor's message format a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// ThetaData terminal (`/v1/events`).
    ThetaData,
    /// Massive (formerly Polygon) `/stocks`, `/options`.
    Massive,
}

impl Vendor {
    /// Parses `"thetadata"` / `"massive"`.
    pub fn parse(name: &str) -> Option<Vendor> {
        match name.to_ascii_lowercase().as_str() {
            "thetadata" | "theta" => Some(Vendor::ThetaData),
            "massive" | "polygon" => Some(Vendor::Massive),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::ThetaData => "thetadata",
            Vendor::Massive => "massive",
        }
    }
}

/// Counters of a decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Bytes fed.
    pub bytes: u64,
    /// Messages decoded (text WebSocket messages, or payloads fed directly).
    pub messages: u64,
    /// Trades decoded (before duplicate suppression).
    pub trades: u64,
    /// Trades released to the caller.
    pub trades_released: u64,
    /// Quotes decoded.
    pub quotes: u64,
    /// Aggregate bars decoded.
    pub aggregates: u64,
    /// Messages or events that were not valid JSON of a known shape (skipped).
    pub malformed: u64,
    /// Trades dropped as already seen.
    pub duplicates: u64,
    /// Trades dropped as older than the duplicate horizon.
    pub stale: u64,
    /// Heartbeat / status messages.
    pub status_frames: u64,
    /// ThetaData session OHLC messages (skipped).
    pub ohlc: u64,
    /// Messages of unknown type (skipped).
    pub unknown: u64,
    /// Binary WebSocket messages (unexpected; skipped).
    pub binary: u64,
    /// Trades resent by the vendor with `records_back > 0`.
    pub records_back: u64,
    /// Trades held while a gap was open.
    pub held: u64,
    /// Gaps opened.
    pub gaps_opened: u64,
    /// Gaps closed.
    pub gaps_closed: u64,
    /// Backfill rows handed to `close_gap`.
    pub backfill_rows: u64,
    /// Backfill rows that were new (released).
    pub backfill_new: u64,
}

impl DecodeStats {
    /// `(name, value)` pairs of every counter.
    pub fn items(&self) -> [(&'static str, u64); 19] {
        [
            ("bytes", self.bytes),
            ("messages", self.messages),
            ("trades", self.trades),
            ("trades_released", self.trades_released),
            ("quotes", self.quotes),
            ("aggregates", self.aggregates),
            ("malformed", self.malformed),
            ("duplicates", self.duplicates),
            ("stale", self.stale),
            ("status_frames", self.status_frames),
            ("ohlc", self.ohlc),
            ("unknown", self.unknown),
            ("binary", self.binary),
            ("records_back", self.records_back),
            ("held", self.held),
            ("gaps_opened", self.gaps_opened),
            ("gaps_closed", self.gaps_closed),
            ("backfill_rows", self.backfill_rows),
            ("backfill_new", self.backfill_new),
        ]
    }
}

/// One open gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Per symbol code: the newest trade time received when the gap opened (`i64::MIN` if none).
    pub from: Vec<i64>,
    /// The newest trade time of any symbol when the gap opened (`i64::MIN` if none).
    pub global_from: i64,
    /// Time of the first trade after the gap (set when data resumes).
    pub until: Option<i64>,
    /// Per symbol code: the first trade time received after the gap (`i64::MIN` if none yet).
    pub first: Vec<i64>,
    /// The newest trade time received after the gap (`i64::MIN` if none).
    pub newest: i64,
}

/// A control event for the caller: `(kind, payload)`.
pub type ControlEvent = (&'static str, Vec<u8>);

/// Decoding state shared by the vendor decoders.
#[derive(Debug, Clone)]
pub struct StreamState {
    /// Symbol codes of this stream.
    pub symbols: SymbolInterner,
    /// New York clock (ThetaData timestamps).
    pub clock: NyClock,
    /// Released trades not yet taken.
    pub out_trades: TradeColumns,
    /// Quotes not yet taken.
    pub out_quotes: QuoteColumns,
    /// Aggregates not yet taken.
    pub out_aggs: AggColumns,
    /// Control events not yet taken.
    pub events: Vec<ControlEvent>,
    /// Counters.
    pub stats: DecodeStats,
    /// Scratch buffer for building symbols.
    pub scratch: Vec<u8>,
    dedupe: SequenceFilter,
    gaps: Vec<Gap>,
    held: TradeColumns,
    /// `held.len()` when each gap after the first opened.
    marks: Vec<usize>,
    newest: Vec<i64>,
    newest_any: i64,
    upstream: Option<String>,
}

impl StreamState {
    fn new(dedupe_horizon: i64) -> Self {
        StreamState {
            symbols: SymbolInterner::new(),
            clock: NyClock::new(),
            out_trades: TradeColumns::default(),
            out_quotes: QuoteColumns::default(),
            out_aggs: AggColumns::default(),
            events: Vec::new(),
            stats: DecodeStats::default(),
            scratch: Vec::with_capacity(32),
            dedupe: SequenceFilter::new(dedupe_horizon),
            gaps: Vec::new(),
            held: TradeColumns::default(),
            marks: Vec::new(),
            newest: Vec::new(),
            newest_any: i64::MIN,
            upstream: None,
        }
    }

    /// Counts a malformed message or event.
    pub fn malformed(&mut self) {
        self.stats.malformed += 1;
    }

    /// Queues a control event.
    pub fn event(&mut self, kind: &'static str, payload: &[u8]) {
        self.events.push((kind, payload.to_vec()));
    }

    /// A decoded trade: released (through the sequence filter) or held while a gap is open.
    #[inline]
    pub fn on_trade(&mut self, t: Trade) {
        self.stats.trades += 1;
        let s = t.symbol as usize;
        if s >= self.newest.len() {
            self.newest.resize(s + 1, i64::MIN);
        }
        if self.gaps.is_empty() {
            self.release(t);
        } else {
            if let Some(g) = self.gaps.last_mut() {
                if g.until.is_none() {
                    g.until = Some(t.ts);
                    self.events.push(("gap_ready", t.ts.to_string().into_bytes()));
                }
                if s >= g.first.len() {
                    g.first.resize(s + 1, i64::MIN);
                }
                if g.first[s] == i64::MIN {
                    g.first[s] = t.ts;
                }
                g.newest = g.newest.max(t.ts);
            }
            self.held.push(t);
            self.stats.held += 1;
        }
        if t.ts > self.newest[s] {
            self.newest[s] = t.ts;
        }
        if t.ts > self.newest_any {
            self.newest_any = t.ts;
        }
    }

    /// A decoded quote.
    #[inline]
    pub fn on_quote(&mut self, q: super::columns::Quote) {
        self.stats.quotes += 1;
        self.out_quotes.push(q);
    }

    /// A ThetaData `STATUS` heartbeat: a change of the upstream state is reported as an
    /// `upstream` event, and a change to anything but `CONNECTED` opens a gap.
    pub fn on_upstream_status(&mut self, status: &str) {
        if self.upstream.as_deref() == Some(status) {
            return;
        }
        let was_connected = self.upstream.as_deref().is_none_or(|s| s == "CONNECTED");
        self.upstream = Some(status.to_owned());
        self.events.push(("upstream", status.as_bytes().to_vec()));
        if status != "CONNECTED" && was_connected {
            self.begin_gap();
        }
    }

    #[inline]
    fn release(&mut self, t: Trade) -> bool {
        match self.dedupe.check(t.symbol, t.ts, t.sequence) {
            Verdict::New => {
                self.out_trades.push(t);
                self.stats.trades_released += 1;
                true
            }
            Verdict::Duplicate => {
                self.stats.duplicates += 1;
                false
            }
            Verdict::Stale => {
                self.stats.stale += 1;
                false
            }
        }
    }

    /// Opens a gap (see the module docs). A gap that has seen no data yet is extended instead.
    pub fn begin_gap(&mut self) {
        if self.gaps.last().is_some_and(|g| g.until.is_none()) {
            return;
        }
        if !self.gaps.is_empty() {
            self.marks.push(self.held.len());
        }
        self.gaps.push(Gap { from: self.newest.clone(), global_from: self.newest_any, until: None, first: Vec::new(), newest: i64::MIN });
        self.stats.gaps_opened += 1;
        self.events.push(("gap_open", self.newest_any.to_string().into_bytes()));
    }
}

/// Why a gap operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapError {
    /// No gap is open.
    NoGap,
    /// The oldest gap has no end yet (no trade arrived since it opened).
    NoEnd,
}

/// A vendor stream decoder (see the module docs).
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    vendor: Vendor,
    frames: FrameReader,
    /// The decoding state.
    pub state: StreamState,
}

impl StreamDecoder {
    /// A decoder for `vendor` that suppresses duplicates within `dedupe_horizon` ns.
    pub fn new(vendor: Vendor, dedupe_horizon: i64) -> Self {
        StreamDecoder { vendor, frames: FrameReader::default(), state: StreamState::new(dedupe_horizon) }
    }

    /// The vendor.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// WebSocket frames parsed.
    pub fn frames(&self) -> u64 {
        self.frames.frames()
    }

    /// Feeds raw bytes read from the connection. Text messages are decoded; pings, pongs and
    /// closes become control events (`ping`, `pong`, `close`). A framing error means the byte
    /// stream is unusable: the caller must reconnect (and call [`StreamDecoder::reset_transport`]).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FrameError> {
        self.state.stats.bytes += data.len() as u64;
        let vendor = self.vendor;
        let st = &mut self.state;
        self.frames.feed(data, &mut |op, payload| match op {
            Opcode::Text => decode_one(vendor, payload, st),
            Opcode::Binary => st.stats.binary += 1,
            Opcode::Ping => st.event("ping", payload),
            Opcode::Pong => st.event("pong", payload),
            Opcode::Close => st.event("close", payload),
        })
    }

    /// Decodes one message payload (already deframed).
    pub fn feed_message(&mut self, payload: &[u8]) {
        self.state.stats.bytes += payload.len() as u64;
        decode_one(self.vendor, payload, &mut self.state);
    }

    /// Forgets a partial frame (a new connection starts a new byte stream).
    pub fn reset_transport(&mut self) {
        self.frames.reset();
    }

    /// Opens a gap (the connection was lost).
    pub fn begin_gap(&mut self) {
        self.state.begin_gap();
    }

    /// The open gaps, oldest first.
    pub fn gaps(&self) -> &[Gap] {
        &self.state.gaps
    }

    /// Trades currently held.
    pub fn held(&self) -> usize {
        self.state.held.len()
    }

    /// Sets the end of the newest gap when no trade arrived to set it (end of a session).
    pub fn set_gap_until(&mut self, ts: i64) -> Result<(), GapError> {
        let g = self.state.gaps.last_mut().ok_or(GapError::NoGap)?;
        if g.until.is_none() {
            g.until = Some(ts);
        }
        Ok(())
    }

    /// Closes the oldest gap: merges `backfill` with the trades held since that gap ended,
    /// sorts them by time (then sequence) and releases them through the sequence filter.
    ///
    /// The caller backfills each symbol up to `Gap::newest` (after letting every subscription
    /// resume), so that the union is complete and the merge hands the bars every trade once,
    /// in time order.
    pub fn close_gap(&mut self, backfill: &TradeColumns) -> Result<(), GapError> {
        let st = &mut self.state;
        let gap = st.gaps.first().ok_or(GapError::NoGap)?;
        if gap.until.is_none() {
            return Err(GapError::NoEnd);
        }
        let end = if st.marks.is_empty() { st.held.len() } else { st.marks.remove(0) };
        let mut union = st.held.take_front(end);
        for m in st.marks.iter_mut() {
            *m -= end;
        }
        let held_rows = union.len();
        for i in 0..backfill.len() {
            union.push(backfill.get(i));
        }
        for i in union.time_order() {
            let released = st.release(union.get(i));
            if i >= held_rows {
                st.stats.backfill_rows += 1;
                st.stats.backfill_new += released as u64;
            }
        }
        st.gaps.remove(0);
        st.stats.gaps_closed += 1;
        Ok(())
    }

    /// The newest upstream status seen (ThetaData `STATUS`), if any.
    pub fn upstream(&self) -> Option<&str> {
        self.state.upstream.as_deref()
    }

    /// Takes the released trades (the next buffer is reserved at the same size, so steady
    /// streams do not regrow it).
    pub fn take_trades(&mut self) -> TradeColumns {
        let n = self.state.out_trades.len();
        std::mem::replace(&mut self.state.out_trades, TradeColumns::with_capacity(n))
    }

    /// Takes the decoded quotes.
    pub fn take_quotes(&mut self) -> QuoteColumns {
        std::mem::take(&mut self.state.out_quotes)
    }

    /// Takes the decoded aggregates.
    pub fn take_aggregates(&mut self) -> AggColumns {
        std::mem::take(&mut self.state.out_aggs)
    }

    /// Takes the control events.
    pub fn take_events(&mut self) -> Vec<ControlEvent> {
        std::mem::take(&mut self.state.events)
    }
}

#[inline]
fn decode_one(vendor: Vendor, payload: &[u8], st: &mut StreamState) {
    st.stats.messages += 1;
    match vendor {
        Vendor::ThetaData => theta::decode_message(payload, st),
        Vendor::Massive => massive::decode_message(payload, st),
    }
}
