//! The client side of RFC 6455 framing: raw bytes read from a WebSocket connection (after the
//! opening handshake) in, complete messages out.
//!
//! Server frames are unmasked; fragmented messages are reassembled; control frames (ping, pong,
//! close) may arrive between the fragments of a data message. Bytes may arrive split anywhere:
//! an incomplete frame is kept until the rest arrives. Complete frames are parsed straight from
//! the caller's buffer, so a large read is not copied (only an incomplete tail is).

use std::fmt;

/// A WebSocket opcode (RFC 6455 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A UTF-8 text message.
    Text,
    /// A binary message.
    Binary,
    /// The peer closes the connection (payload: 2-byte code and a reason).
    Close,
    /// A ping (the client must answer with a pong carrying the same payload).
    Ping,
    /// A pong.
    Pong,
}

/// A violation of the framing protocol: the connection cannot continue and must be reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "websocket protocol error: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

/// Incremental frame parser of one connection.
#[derive(Debug, Clone)]
pub struct FrameReader {
    /// Bytes of an incomplete frame, kept between calls.
    pending: Vec<u8>,
    /// The opcode and payload so far of a fragmented data message.
    fragments: Option<(Opcode, Vec<u8>)>,
    /// Largest accepted message (a bigger one is a protocol error, not an allocation).
    max_message: usize,
    /// Complete frames parsed.
    frames: u64,
}

/// Default largest message: 64 MiB (a huge batched frame is far smaller).
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

impl Default for FrameReader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

/// Header length (with the masking key) given the second header byte.
fn header_len(b1: u8) -> usize {
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    mask + match b1 & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    }
}

/// Total length (header and payload) of the frame at the start of `buf`, once its header is
/// complete.
fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let masked = if buf[1] & 0x80 != 0 { 4 } else { 0 };
    let (len, header) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as u64, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b), 10)
        }
        n => (n as u64, 2),
    };
    // Oversized lengths are rejected by the parser; cap here so the sum cannot overflow.
    Some(header + masked + len.min(u32::MAX as u64) as usize)
}

enum Step {
    /// A frame was consumed (its length in bytes).
    Frame(usize),
    /// More bytes are needed.
    Incomplete,
}

impl FrameReader {
    /// A reader that rejects messages above `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        FrameReader { pending: Vec::new(), fragments: None, max_message, frames: 0 }
    }

    /// Frames parsed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes held while waiting for the rest of a frame.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len() + self.fragments.as_ref().map_or(0, |f| f.1.len())
    }

    /// Forgets any partial frame or message (after a reconnect, a new byte stream starts).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.fragments = None;
    }

    /// Parses every complete frame of `data` (appended to any held partial frame) and passes
    /// each complete message to `sink` in order.
    pub fn feed(&mut self, mut data: &[u8], sink: &mut impl FnMut(Opcode, &[u8])) -> Result<(), FrameError> {
        // First complete a frame left over from the previous call, copying only its missing
        // bytes (not the whole new read).
        while !self.pending.is_empty() && !data.is_empty() {
            let have = self.pending.len();
            let want = if have < 2 {
                2 - have
            } else {
                let header = header_len(self.pending[1]);
                if have < header {
                    header - have
                } else {
                    frame_len(&self.pending).map_or(1, |total| total.saturating_sub(have).max(1))
                }
            };
            let take = want.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Some(total) = frame_len(&self.pending) {
                if total - header_len(self.pending[1]) > self.max_message {
                    return Err(FrameError(format!("frame exceeds the {} byte limit", self.max_message)));
                }
            }
            if frame_len(&self.pending).is_some_and(|t| t == self.pending.len()) {
                let pending = std::mem::take(&mut self.pending);
                let used = self.parse_all(&pending, sink)?;
                debug_assert_eq!(used, pending.len());
                self.pending = pending;
                self.pending.clear();
            }
        }
        if self.pending.is_empty() {
            let used = self.parse_all(data, sink)?;
            self.pending.extend_from_slice(&data[used..]);
        }
        Ok(())
    }

    fn parse_all(&mut self, buf: &[u8], sink: &mut impl FnMut(Opcode, &[u8])) -> Result<usize, FrameError> {
        let mut at = 0;
        while let Step::Frame(n) = self.parse_one(&buf[at..], sink)? {
            at += n;
        }
        Ok(at)
    }

    fn parse_one(&mut self, buf: &[u8], sink: &mut impl FnMut(Opcode, &[u8])) -> Result<Step, FrameError> {
        if buf.len() < 2 {
            return Ok(Step::Incomplete);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(FrameError("reserved bits set (no extension was negotiated)".into()));
        }
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 => {
                if buf.len() < 4 {
                    return Ok(Step::Incomplete);
                }
                (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4usize)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(Step::Incomplete);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(b), 10usize)
            }
            n => (n as u64, 2usize),
        };
        if len > self.max_message as u64 {
            return Err(FrameError(format!("frame of {len} bytes exceeds the {} byte limit", self.max_message)));
        }
        let len = len as usize;
        let mask = if masked {
            if buf.len() < at + 4 {
                return Ok(Step::Incomplete);
            }
            let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        if buf.len() < at + len {
            return Ok(Step::Incomplete);
        }
        let raw = &buf[at..at + len];
        // A server must not mask (RFC 6455 5.1); accept it anyway by unmasking into a copy.
        let unmasked: Option<Vec<u8>> = mask.map(|m| raw.iter().enumerate().map(|(i, b)| b ^ m[i & 3]).collect());
        let payload: &[u8] = unmasked.as_deref().unwrap_or(raw);
        self.frames += 1;
        let opcode = b0 & 0x0f;
        match opcode {
            0x8..=0xA => {
                if !fin || len > 125 {
                    return Err(FrameError("control frames must be final and at most 125 bytes".into()));
                }
                let op = match opcode {
                    0x8 => Opcode::Close,
                    0x9 => Opcode::Ping,
                    _ => Opcode::Pong,
                };
                sink(op, payload);
            }
            0x1 | 0x2 => {
                if self.fragments.is_some() {
                    return Err(FrameError("a new data message started inside a fragmented one".into()));
                }
                let op = if opcode == 0x1 { Opcode::Text } else { Opcode::Binary };
                if fin {
                    sink(op, payload);
                } else {
                    self.fragments = Some((op, payload.to_vec()));
                }
            }
            0x0 => {
                let Some((op, mut acc)) = self.fragments.take() else {
                    return Err(FrameError("continuation frame without a message to continue".into()));
                };
                if acc.len() + payload.len() > self.max_message {
                    return Err(FrameError(format!("message exceeds the {} byte limit", self.max_message)));
                }
                acc.extend_from_slice(payload);
                if fin {
                    sink(op, &acc);
                } else {
                    self.fragments = Some((op, acc));
                }
            }
            other => return Err(FrameError(format!("unknown opcode {other:#x}"))),
        }
        Ok(Step::Frame(at + len))
    }
}

/// Appends one unmasked server frame (FIN set) carrying `payload` to `out`: the framing a
/// server writes. Used by tests and by the benchmark's frame builders.
pub fn write_server_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    let code = match opcode {
        Opcode::Text => 0x1,
        Opcode::Binary => 0x2,
        Opcode::Close => 0x8,
        Opcode::Ping => 0x9,
        Opcode::Pong => 0xA,
    };
    out.push(0x80 | code);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n < 65536 {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(reader: &mut FrameReader, data: &[u8]) -> Result<Vec<(Opcode, Vec<u8>)>, FrameError> {
        let mut out = Vec::new();
        reader.feed(data, &mut |op, p| out.push((op, p.to_vec())))?;
        Ok(out)
    }

    #[test]
    fn splits_anywhere() {
        let mut wire = Vec::new();
        let big = vec![b'x'; 70_000];
        write_server_frame(&mut wire, Opcode::Text, b"hello");
        write_server_frame(&mut wire, Opcode::Text, &vec![b'y'; 300]);
        write_server_frame(&mut wire, Opcode::Binary, &big);
        write_server_frame(&mut wire, Opcode::Ping, b"p");
        for cut in [1, 2, 3, 5, 9, 100, 400, 50_000, wire.len() - 1] {
            let mut r = FrameReader::default();
            let mut got = collect(&mut r, &wire[..cut]).unwrap();
            got.extend(collect(&mut r, &wire[cut..]).unwrap());
            assert_eq!(got.len(), 4, "cut {cut}");
            assert_eq!(got[0], (Opcode::Text, b"hello".to_vec()));
            assert_eq!(got[1].1.len(), 300);
            assert_eq!(got[2].1, big);
            assert_eq!(got[3], (Opcode::Ping, b"p".to_vec()));
            assert_eq!(r.pending_bytes(), 0);
        }
    }

    #[test]
    fn reassembles_fragments_around_control_frames() {
        let wire = [
            &[0x01u8, 3][..],
            b"abc", // text, not final
            &[0x89, 1],
            b"!", // ping in between
            &[0x80, 2],
            b"de", // final continuation
        ]
        .concat();
        let got = collect(&mut FrameReader::default(), &wire).unwrap();
        assert_eq!(got, vec![(Opcode::Ping, b"!".to_vec()), (Opcode::Text, b"abcde".to_vec())]);
    }

    #[test]
    fn unmasks_and_rejects_violations() {
        let mask = [1u8, 2, 3, 4];
        let payload: Vec<u8> = b"hi!".iter().enumerate().map(|(i, b)| b ^ mask[i & 3]).collect();
        let wire = [&[0x81u8, 0x83][..], &mask, &payload].concat();
        assert_eq!(collect(&mut FrameReader::default(), &wire).unwrap()[0].1, b"hi!");
        assert!(collect(&mut FrameReader::default(), &[0x80, 1, b'x']).is_err()); // stray continuation
        assert!(collect(&mut FrameReader::default(), &[0xC1, 0]).is_err()); // RSV1
        assert!(collect(&mut FrameReader::default(), &[0x83, 0]).is_err()); // unknown opcode
        assert!(collect(&mut FrameReader::new(10), &[0x81, 11]).is_err()); // too large
    }
}
