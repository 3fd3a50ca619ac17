package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// DefaultTTL is how long a state outlives its last change when the caller gives no TTL:
// a working day and a night, so a dashboard left open picks up where it was.
const DefaultTTL = 24 * time.Hour

// MaxSize is the most bytes a stored state may take. Selections are small; a state this
// large is a client selecting a whole field's values one by one, and Redis must not grow
// with it.
const MaxSize = 256 << 10

var (
	// ErrUnavailable wraps every failure to reach the state's storage (Redis down, slow
	// or too contended): the caller may retry, and should answer UNAVAILABLE.
	ErrUnavailable = errors.New("selection: state storage unavailable")
	// ErrTooLarge refuses a change whose state would not fit in MaxSize even without its
	// history; the API answers INVALID_ARGUMENT. Nothing is written.
	ErrTooLarge = errors.New("selection: the selections are too large")
	// ErrInvalidKey refuses a key with an empty part, or a tenant that would break the
	// key's hash tag.
	ErrInvalidKey = errors.New("selection: invalid key")
)

// Key names the state of one session in one app.
type Key struct {
	// Tenant is the tenant id.
	Tenant string
	// Session is the session's name: an embed session's or an API key's; it may hold
	// slashes.
	Session string
	// App is the app id.
	App string
}

// check refuses a key that cannot name a state.
func (k Key) check() error {
	if k.Tenant == "" || k.Session == "" || k.App == "" || strings.ContainsAny(k.Tenant, "{}") {
		return fmt.Errorf("%w: %+v", ErrInvalidKey, k)
	}
	return nil
}

// Store keeps states. Each state expires a TTL after its last Update.
type Store interface {
	// Get returns the state of key: the zero State if there is none (never set, or
	// expired).
	Get(ctx context.Context, key Key) (State, error)
	// Update replaces the state of key with what fn makes of it, atomically: fn may be
	// called several times, with the state as it is then, and must only compute. An error
	// of fn is returned as it is and writes nothing. It returns the state stored, which
	// may have lost its oldest steps to fit in MaxSize.
	Update(ctx context.Context, key Key, fn func(State) (State, error)) (State, error)
}

// wireVersion marks the encoding, so a future one can tell it apart.
const wireVersion = 1

// wireState is a State as stored: JSON with one-letter names, compact and readable in
// redis-cli.
type wireState struct {
	Version int           `json:"v"`
	Steps   [][]wireField `json:"h"`
	At      int           `json:"i"`
}

// wireField is one field's selection as stored.
type wireField struct {
	Field  string   `json:"f"`
	Values []string `json:"s"`
}

// encode returns s as stored, without its oldest (then its latest forward) steps if that
// is what it takes to fit in MaxSize, and the state that encoding holds; ErrTooLarge if
// even the current step alone does not fit.
func encode(s State) ([]byte, State, error) {
	h := s.history()
	from, to := 0, len(h) // the steps kept, h[from:to]
	for {
		b, err := encodeSteps(h[from:to], s.at-from)
		if err != nil {
			return nil, State{}, err
		}
		if len(b) <= MaxSize {
			if from == 0 && to == len(h) {
				return b, s, nil
			}
			return b, State{steps: h[from:to:to], at: s.at - from}, nil
		}
		switch {
		case from < s.at:
			from++
		case to > s.at+1:
			to--
		default:
			return nil, State{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(b), MaxSize)
		}
	}
}

func encodeSteps(steps [][]engine.Selection, at int) ([]byte, error) {
	w := wireState{Version: wireVersion, Steps: make([][]wireField, len(steps)), At: at}
	for i, step := range steps {
		w.Steps[i] = make([]wireField, len(step))
		for j, sel := range step {
			w.Steps[i][j] = wireField{Field: sel.Field, Values: sel.Values}
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("selection: encode state: %w", err)
	}
	return b, nil
}

// decode reads what encode stored. A state it cannot read (another version's, or
// damaged) reads as the zero State: selections are a convenience, and an error would lock
// the session out of them until the state expired.
func decode(b []byte) State {
	var w wireState
	if err := json.Unmarshal(b, &w); err != nil || w.Version != wireVersion ||
		len(w.Steps) == 0 || len(w.Steps) > MaxSteps || w.At < 0 || w.At >= len(w.Steps) {
		return State{}
	}
	if len(w.Steps) == 1 && len(w.Steps[0]) == 0 {
		return State{}
	}
	steps := make([][]engine.Selection, len(w.Steps))
	for i, step := range w.Steps {
		if len(step) == 0 {
			continue
		}
		steps[i] = make([]engine.Selection, len(step))
		for j, f := range step {
			if f.Field == "" || len(f.Values) == 0 {
				return State{}
			}
			steps[i][j] = engine.Selection{Field: f.Field, Values: f.Values}
		}
	}
	return State{steps: steps, at: w.At}
}

// ttlOrDefault is ttl, DefaultTTL when it is not positive.
func ttlOrDefault(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultTTL
	}
	return ttl
}
