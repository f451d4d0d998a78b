//! The part of the server-sent events format (WHATWG HTML, "Server-sent events") the hub
//! uses: `event:` and `data:` fields, events separated by a blank line, `:` comments (the
//! keep-alives). Fed the stream's chunks as they come, which may split an event or a UTF-8
//! character anywhere.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `message` when the event names none.
    pub name: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Longest event accepted (a notification is a few KiB, base64 included).
const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
}

impl Parser {
    /// Adds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            let text_end = find_blank_line(&self.buffer);
            let Some((end, separator)) = text_end else {
                break;
            };
            let block: Vec<u8> = self.buffer.drain(..end + separator).collect();
            if let Some(event) = parse_block(&String::from_utf8_lossy(&block[..end])) {
                events.push(event);
            }
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            // Nothing sane is this long; drop it rather than grow without bound.
            self.buffer.clear();
        }
        events
    }
}

/// Where the first blank line is: the block's length and the separator's.
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| (at, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_block(block: &str) -> Option<Event> {
    let mut name = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => match &mut data {
                Some(text) => {
                    text.push('\n');
                    text.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    let data = data?;
    Some(Event {
        name: name.unwrap_or_else(|| "message".to_owned()),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_put_back_together() {
        let stream = "event: ready\ndata: T01\n\n: keep-alive\n\nevent: notification\nid: 7\ndata: {\"a\":\ndata: 1}\n\n";
        for cut in 0..stream.len() {
            let mut parser = Parser::default();
            let mut events = parser.push(&stream.as_bytes()[..cut]);
            events.extend(parser.push(&stream.as_bytes()[cut..]));
            assert_eq!(
                events,
                [
                    Event {
                        name: "ready".into(),
                        data: "T01".into()
                    },
                    Event {
                        name: "notification".into(),
                        data: "{\"a\":\n1}".into()
                    },
                ],
                "cut at {cut}"
            );
        }
        let mut parser = Parser::default();
        assert_eq!(parser.push(b"data: x\r\n\r\n")[0].data, "x");
    }
}
