package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxMessageBytes is advertised (SIZE) and enforced: a runaway client cannot fill memory.
	MaxMessageBytes = 32 << 20
	// maxCommandBytes bounds a command line (RFC 5321 allows 512; extensions add parameters).
	maxCommandBytes = 4096
	idleTimeout     = 5 * time.Minute
)

var errLineTooLong = errors.New("line too long")

// SMTPServer accepts mail for any recipient and hands each message to its Store.
type SMTPServer struct {
	Store    *Store
	Hostname string
}

// Serve accepts connections until the listener is closed, one goroutine each.
func (s *SMTPServer) Serve(listener net.Listener) error {
	for {
		conn, err := listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go s.session(conn)
	}
}

// session is one SMTP connection: the envelope being built and the replies.
type session struct {
	server   *SMTPServer
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	greeted  bool
	mailFrom *string // nil until MAIL FROM
	rcptTos  []string
}

func (s *SMTPServer) session(conn net.Conn) {
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetNoDelay(true)
	}
	c := &session{server: s, conn: conn, r: bufio.NewReaderSize(conn, 16<<10), w: bufio.NewWriterSize(conn, 4<<10)}
	c.reply("220 " + s.Hostname + " ESMTP smtpsink")
	if c.flush() != nil {
		return
	}
	for {
		conn.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := c.readLine(maxCommandBytes)
		if err == errLineTooLong {
			c.reply("500 5.5.2 Line too long")
			if c.flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		if !c.command(strings.TrimRight(string(line), "\r\n")) {
			c.flush()
			return
		}
		// Pipelining (RFC 2920): answer a batch of commands in one write.
		if c.r.Buffered() == 0 && c.flush() != nil {
			return
		}
	}
}

func (c *session) reply(line string) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
}

func (c *session) flush() error {
	c.conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	return c.w.Flush()
}

// readLine returns one line with its line end; a line longer than limit is read to its end
// and reported as errLineTooLong.
func (c *session) readLine(limit int) ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err == nil {
		if len(line) > limit {
			return nil, errLineTooLong
		}
		return line, nil
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = c.r.ReadSlice('\n')
		if len(long) <= limit {
			long = append(long, line...)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(long) > limit {
		return nil, errLineTooLong
	}
	return long, nil
}

func (c *session) reset() {
	c.mailFrom = nil
	c.rcptTos = nil
}

// command answers one command line; false ends the session.
func (c *session) command(line string) bool {
	verb, arg := line, ""
	if i := strings.IndexByte(line, ' '); i >= 0 {
		verb, arg = line[:i], strings.TrimSpace(line[i+1:])
	}
	switch strings.ToUpper(verb) {
	case "EHLO":
		if arg == "" {
			c.reply("501 5.5.4 Syntax: EHLO hostname")
			return true
		}
		c.greeted = true
		c.reset()
		c.reply("250-" + c.server.Hostname)
		c.reply("250-SIZE " + strconv.Itoa(MaxMessageBytes))
		c.reply("250-8BITMIME")
		c.reply("250-SMTPUTF8")
		c.reply("250 PIPELINING")
	case "HELO":
		if arg == "" {
			c.reply("501 5.5.4 Syntax: HELO hostname")
			return true
		}
		c.greeted = true
		c.reset()
		c.reply("250 " + c.server.Hostname)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		return c.data(arg)
	case "RSET":
		c.reset()
		c.reply("250 2.0.0 OK")
	case "NOOP":
		c.reply("250 2.0.0 OK")
	case "QUIT":
		c.reply("221 2.0.0 Bye")
		return false
	case "":
		c.reply("500 5.5.2 Error: bad syntax")
	default:
		c.reply("502 5.5.1 Command not implemented")
	}
	return true
}

// path splits "FROM:<addr> PARAMS" (after the keyword) into the address without its angle
// brackets and the parameters; ok is false when the syntax is wrong.
func path(arg, keyword string) (address, params string, ok bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", "", false
	}
	rest := strings.TrimSpace(arg[len(keyword):])
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", "", false
		}
		return rest[1:end], strings.TrimSpace(rest[end+1:]), true
	}
	// Some clients leave the brackets out.
	address, params, _ = strings.Cut(rest, " ")
	return address, strings.TrimSpace(params), address != ""
}

func (c *session) mail(arg string) {
	if !c.greeted {
		c.reply("503 5.5.1 Error: send HELO first")
		return
	}
	if c.mailFrom != nil {
		c.reply("503 5.5.1 Error: nested MAIL command")
		return
	}
	address, params, ok := path(arg, "FROM:")
	if !ok {
		c.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
		return
	}
	for _, param := range strings.Fields(params) {
		key, value, _ := strings.Cut(param, "=")
		if strings.EqualFold(key, "SIZE") {
			if size, err := strconv.Atoi(value); err == nil && size > MaxMessageBytes {
				c.reply("552 5.3.4 Message size exceeds fixed maximum message size")
				return
			}
		}
	}
	c.mailFrom = &address
	c.reply("250 2.1.0 OK")
}

func (c *session) rcpt(arg string) {
	if c.mailFrom == nil {
		c.reply("503 5.5.1 Error: need MAIL command")
		return
	}
	address, _, ok := path(arg, "TO:")
	if !ok || address == "" {
		c.reply("501 5.5.4 Syntax: RCPT TO:<address>")
		return
	}
	c.rcptTos = append(c.rcptTos, address)
	c.reply("250 2.1.5 OK")
}

// data reads the message up to the line holding a single dot, undoing dot-stuffing.
func (c *session) data(arg string) bool {
	if arg != "" {
		c.reply("501 5.5.4 Syntax: DATA")
		return true
	}
	if c.mailFrom == nil {
		c.reply("503 5.5.1 Error: need MAIL command")
		return true
	}
	if len(c.rcptTos) == 0 {
		c.reply("503 5.5.1 Error: need RCPT command")
		return true
	}
	c.reply("354 End data with <CR><LF>.<CR><LF>")
	if c.flush() != nil {
		return false
	}
	var body bytes.Buffer
	tooBig := false
	for {
		c.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := c.readLine(MaxMessageBytes)
		if err == errLineTooLong {
			tooBig = true
			continue
		}
		if err != nil {
			return false // the client went away mid-message: nothing is kept
		}
		if line[0] == '.' {
			if len(line) == 2 && line[1] == '\n' || len(line) == 3 && line[1] == '\r' && line[2] == '\n' {
				break
			}
			line = line[1:]
		}
		if body.Len()+len(line) > MaxMessageBytes {
			tooBig = true
			continue
		}
		body.Write(line)
	}
	if tooBig {
		c.reset()
		c.reply("552 5.3.4 Message size exceeds fixed maximum message size")
		return true
	}
	c.server.Store.Add(*c.mailFrom, c.rcptTos, body.Bytes())
	c.reset()
	c.reply("250 2.0.0 Message accepted for delivery")
	return true
}
