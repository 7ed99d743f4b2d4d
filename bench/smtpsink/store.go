package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Message is one accepted message: its envelope and raw bytes (CRLF line ends, dots
// unstuffed). Headers and body parts are parsed on first use, by the HTTP API, not in the
// SMTP session: a benchmark that only counts messages never pays for parsing.
type Message struct {
	ID         int64
	ReceivedAt time.Time
	MailFrom   string
	RcptTos    []string
	Raw        []byte

	once   sync.Once
	parsed parsedMessage
}

type header struct{ name, value string }

type parsedMessage struct {
	headers []header // in order, names as sent, values unfolded and decoded (RFC 2047)
	text    *string
	html    *string
}

// Store holds the accepted messages; safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	messages []*Message
	nextID   int64
}

func NewStore() *Store { return &Store{} }

// Add keeps one message (rcptTos is copied; raw is kept as given).
func (s *Store) Add(mailFrom string, rcptTos []string, raw []byte) *Message {
	m := &Message{ReceivedAt: time.Now().UTC(), MailFrom: mailFrom, RcptTos: append([]string(nil), rcptTos...), Raw: raw}
	s.mu.Lock()
	s.nextID++
	m.ID = s.nextID
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	return m
}

func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

// Messages is a snapshot of what is held, oldest first.
func (s *Store) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.messages...)
}

// Clear forgets every message; how many there were. Ids keep counting, as the Python server's do.
func (s *Store) Clear() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.messages)
	s.messages = nil
	return n
}

func (m *Message) parse() *parsedMessage {
	m.once.Do(func() { m.parsed = parseMessage(m.Raw) })
	return &m.parsed
}

// Header is the first value of a header (case-insensitive name), "" and false when absent.
func (m *Message) Header(name string) (string, bool) {
	for _, h := range m.parse().headers {
		if strings.EqualFold(h.name, name) {
			return h.value, true
		}
	}
	return "", false
}

// Text is the decoded text/plain part; nil when the message has none.
func (m *Message) Text() *string { return m.parse().text }

// HTML is the decoded text/html part; nil when the message has none.
func (m *Message) HTML() *string { return m.parse().html }

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// splitHeader cuts a message (or MIME part) into its header lines and body.
func splitHeader(raw []byte) (block, body []byte) {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+2], raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i+1], raw[i+2:]
	}
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:]
	}
	return raw, nil
}

// parseHeaders unfolds a header block, keeping the names as sent and the order.
func parseHeaders(block []byte) []header {
	var headers []header
	for _, line := range strings.Split(strings.ReplaceAll(string(block), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1].value += line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue // not a header line (the Python parser calls it a defect and goes on too)
		}
		headers = append(headers, header{strings.TrimSpace(name), value})
	}
	for i := range headers {
		value := strings.TrimSpace(headers[i].value)
		if strings.Contains(value, "=?") {
			if decoded, err := wordDecoder.DecodeHeader(value); err == nil {
				value = decoded
			}
		}
		headers[i].value = value
	}
	return headers
}

func headerValue(headers []header, name string) string {
	for _, h := range headers {
		if strings.EqualFold(h.name, name) {
			return h.value
		}
	}
	return ""
}

func parseMessage(raw []byte) parsedMessage {
	block, body := splitHeader(raw)
	parsed := parsedMessage{headers: parseHeaders(block)}
	parts := map[string]*string{}
	if !collectParts(parsed.headers, body, parts, 0) {
		// Not MIME we can read: the raw body is the text, as a relay's log would show it.
		text := unixNewlines(toValidUTF8(body))
		parsed.text = &text
		return parsed
	}
	parsed.text, parsed.html = parts["plain"], parts["html"]
	return parsed
}

// collectParts walks a MIME entity depth-first and keeps the first inline text/plain and
// text/html bodies, decoded; false when the structure cannot be read.
func collectParts(headers []header, body []byte, parts map[string]*string, depth int) bool {
	mediaType, params, err := mime.ParseMediaType(headerValue(headers, "Content-Type"))
	if err != nil {
		mediaType, params = "text/plain", map[string]string{} // RFC 2045's default
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if params["boundary"] == "" || depth > 10 {
			return false
		}
		reader := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := reader.NextRawPart()
			if err == io.EOF {
				return true
			}
			if err != nil {
				return false
			}
			content, err := io.ReadAll(part)
			if err != nil {
				return false
			}
			var partHeaders []header
			for name, values := range part.Header {
				for _, v := range values {
					partHeaders = append(partHeaders, header{name, v})
				}
			}
			if !collectParts(partHeaders, content, parts, depth+1) {
				return false
			}
		}
	}
	disposition, _, _ := mime.ParseMediaType(headerValue(headers, "Content-Disposition"))
	subtype := strings.TrimPrefix(mediaType, "text/")
	if subtype == mediaType || disposition == "attachment" || parts[subtype] != nil {
		return true
	}
	decoded, err := decodeBody(body, headerValue(headers, "Content-Transfer-Encoding"))
	if err != nil {
		return false
	}
	text := unixNewlines(decodeCharset(decoded, params["charset"]))
	parts[subtype] = &text
	return true
}

func decodeBody(body []byte, encoding string) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case "base64":
		// The decoder skips the line ends; other stray bytes make it an error.
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.TrimSpace(body))))
	default: // 7bit, 8bit, binary
		return body, nil
	}
}

// decodeCharset reads utf-8, us-ascii and latin-1 text; other charsets are read as utf-8
// with invalid bytes replaced (the platform only sends utf-8).
func decodeCharset(body []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1", "l1":
		return latin1(body)
	default:
		return toValidUTF8(body)
	}
}

func latin1(body []byte) string {
	runes := make([]rune, len(body))
	for i, b := range body {
		runes[i] = rune(b)
	}
	return string(runes)
}

func toValidUTF8(body []byte) string {
	if utf8.Valid(body) {
		return string(body)
	}
	return strings.ToValidUTF8(string(body), "\uFFFD")
}

func unixNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	body, err := io.ReadAll(input)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(decodeCharset(body, charset)), nil
}
