package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// receivedAtLayout is Python's datetime.isoformat() of an aware UTC time, so
// datetime.fromisoformat() reads it as the Python server's.
const receivedAtLayout = "2006-01-02T15:04:05.000000+00:00"

// API is the JSON HTTP API, in the Python loopback server's shapes for what the benchmarks
// read (bench/capacity.py, e2e/helpers.py's smtp_messages).
type API struct {
	store    *Store
	smtpPort int
}

func NewAPI(store *Store, smtpPort int) *API { return &API{store: store, smtpPort: smtpPort} }

// messageJSON is one message as the Python server's ReceivedMessage.to_dict() gives it.
type messageJSON struct {
	ID             int64             `json:"id"`
	From           string            `json:"from"`
	To             []string          `json:"to"`
	Subject        *string           `json:"subject"`
	NotificationID *string           `json:"notification_id"`
	Headers        map[string]string `json:"headers"`
	Text           *string           `json:"text"`
	HTML           *string           `json:"html"`
	ReceivedAt     string            `json:"received_at"`
}

func optionalHeader(m *Message, name string) *string {
	if value, ok := m.Header(name); ok {
		return &value
	}
	return nil
}

func toJSON(m *Message) messageJSON {
	headers := map[string]string{}
	for _, h := range m.parse().headers {
		if _, seen := headers[h.name]; !seen {
			headers[h.name] = h.value
		}
	}
	return messageJSON{
		ID:             m.ID,
		From:           m.MailFrom,
		To:             m.RcptTos,
		Subject:        optionalHeader(m, "Subject"),
		NotificationID: optionalHeader(m, "X-Notification-ID"),
		Headers:        headers,
		Text:           m.Text(),
		HTML:           m.HTML(),
		ReceivedAt:     m.ReceivedAt.UTC().Format(receivedAtLayout),
	}
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]interface{}{
			"status":           "ok",
			"down":             false,
			"outage_remaining": 0.0,
			"outage_refusals":  0,
			"smtp_port":        a.smtpPort,
			"messages":         a.store.Len(),
			"server":           "smtpsink (Go)",
		})
	case r.URL.Path == "/messages" && r.Method == http.MethodGet:
		a.list(w, r)
	case r.URL.Path == "/messages" && r.Method == http.MethodDelete:
		writeJSON(w, http.StatusOK, map[string]int{"deleted": a.store.Clear()})
	case r.URL.Path == "/control":
		// Failure scripts are the Python server's (notification_devtools.loopback.smtp).
		writeJSON(w, http.StatusNotImplemented, map[string]string{
			"error": "smtpsink has no failure injection: use the Python loopback server",
		})
	case r.URL.Path == "/health" || r.URL.Path == "/messages":
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	notificationID, to := lastValue(query, "notification_id"), lastValue(query, "to")
	result := []messageJSON{}
	for _, m := range a.store.Messages() {
		if notificationID != "" {
			if value, ok := m.Header("X-Notification-ID"); !ok || value != notificationID {
				continue
			}
		}
		if to != "" && !hasRecipient(m, to) {
			continue
		}
		result = append(result, toJSON(m))
	}
	writeJSON(w, http.StatusOK, result)
}

// lastValue is a query parameter as the Python server reads it: the last one, blank ones left out.
func lastValue(query url.Values, key string) string {
	values := query[key]
	for i := len(values) - 1; i >= 0; i-- {
		if values[i] != "" {
			return values[i]
		}
	}
	return ""
}

func hasRecipient(m *Message, address string) bool {
	wanted := strings.ToLower(strings.TrimSpace(address))
	for _, r := range m.RcptTos {
		if strings.ToLower(r) == wanted {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, payload interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	encoder := json.NewEncoder(w)
	encoder.SetEscapeHTML(false)
	encoder.Encode(payload)
}
