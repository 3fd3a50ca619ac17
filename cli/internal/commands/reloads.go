package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// ReloadsCmd is `oriel reloads`.
type ReloadsCmd struct {
	ClientFlags `embed:""`

	List   ReloadsListCmd   `cmd:"" help:"List an app's reloads, newest first."`
	Get    ReloadsGetCmd    `cmd:"" help:"Show a reload: its state, the tables it loaded, its error and its log."`
	Watch  ReloadsWatchCmd  `cmd:"" help:"Follow a reload until it ends, showing its tables and log on stderr, with a progress bar on a terminal."`
	Cancel ReloadsCancelCmd `cmd:"" help:"Cancel a queued or running reload; the data it would have replaced keeps serving."`
}

// reloadArg is the positional name of a reload.
type reloadArg struct {
	Name string `arg:"" help:"The reload, e.g. tenants/acme/apps/sales/reloads/r1 (from oriel reloads list)."`
}

// reloadWaitFlags are the flags of the commands that can follow a reload to its end.
type reloadWaitFlags struct {
	Wait        bool          `name:"wait" env:"-" help:"Follow the reload until it ends: its tables and log lines on stderr as they come, with a progress bar on a terminal (else a line per change of state), the final reload on stdout; exit 1 unless it SUCCEEDED."`
	WaitTimeout time.Duration `name:"wait-timeout" placeholder:"DURATION" env:"-" help:"With --wait, stop following after this long (the reload goes on); 0, the default, follows it to its end. --timeout bounds each call."`
}

// AppsReloadCmd is `oriel apps reload`.
type AppsReloadCmd struct {
	appArg
	Variable  []string        `name:"variable" sep:"none" placeholder:"NAME=VALUE" env:"-" help:"A variable's value for this reload, over the app's own (repeatable)."`
	RequestID string          `name:"request-id" placeholder:"ID" env:"-" help:"Makes the call idempotent: a retry with the same id returns the reload the first call queued."`
	Waiting   reloadWaitFlags `embed:""`
}

// Validate checks the variables and the wait timeout before anything is sent.
func (c *AppsReloadCmd) Validate() error {
	if c.Waiting.WaitTimeout < 0 {
		return fmt.Errorf("--wait-timeout must not be negative, got %s", c.Waiting.WaitTimeout)
	}
	_, err := parsePairs("--variable", c.Variable, "schema=sales")
	return err
}

// Run queues the reload and, with --wait, follows it to its end.
func (c *AppsReloadCmd) Run(s *Session) error {
	vars, err := parsePairs("--variable", c.Variable, "schema=sales")
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateReload(ctx, &contentv1.CreateReloadRequest{
		Parent: c.Name, RequestId: c.RequestID, Reload: &contentv1.Reload{Variables: vars},
	})
	if err != nil {
		return err
	}
	created := resp.GetReload()
	if !c.Waiting.Wait {
		if err := s.printReload(created); err != nil {
			return err
		}
		fmt.Fprintf(s.Stderr, "follow it: oriel reloads watch %s\n", created.GetName())
		return nil
	}
	return s.followReload(created.GetName(), c.Waiting.WaitTimeout)
}

// ReloadsListCmd is `oriel reloads list`.
type ReloadsListCmd struct {
	appArg
	Paging pagingFlags `embed:""`
}

// Run lists the app's reloads.
func (c *ReloadsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "reloads",
		func(ctx context.Context, size int32, token string) ([]*contentv1.Reload, string, error) {
			resp, err := s.Client.ListReloads(ctx, &contentv1.ListReloadsRequest{Parent: c.Name, PageSize: size, PageToken: token})
			return resp.GetReloads(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.Reload, next string) proto.Message {
			return &contentv1.ListReloadsResponse{Reloads: items, NextPageToken: next}
		},
		printReloadTable)
}

// ReloadsGetCmd is `oriel reloads get`.
type ReloadsGetCmd struct{ reloadArg }

// Run shows the reload and its log.
func (c *ReloadsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetReload(ctx, &contentv1.GetReloadRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printReload(resp.GetReload())
}

// ReloadsWatchCmd is `oriel reloads watch`.
type ReloadsWatchCmd struct {
	reloadArg
	WaitTimeout time.Duration `name:"wait-timeout" placeholder:"DURATION" env:"-" help:"Stop following after this long (the reload goes on); 0, the default, follows it to its end."`
}

// Run follows the reload; it succeeds if the reload does.
func (c *ReloadsWatchCmd) Run(s *Session) error {
	if c.WaitTimeout < 0 {
		return fmt.Errorf("--wait-timeout must not be negative, got %s", c.WaitTimeout)
	}
	return s.followReload(c.Name, c.WaitTimeout)
}

// ReloadsCancelCmd is `oriel reloads cancel`.
type ReloadsCancelCmd struct{ reloadArg }

// Run cancels the reload and shows it.
func (c *ReloadsCancelCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CancelReload(ctx, &contentv1.CancelReloadRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printReload(resp.GetReload())
}

// followReload watches a reload until it ends, showing its state, tables and log on
// stderr (with a bar of its progress on a terminal), then prints it and fails (exit 1) unless it SUCCEEDED. Interrupting stops the
// watching, not the reload.
func (s *Session) followReload(name string, limit time.Duration) error {
	ctx, cancel := watchContext(limit)
	defer cancel()
	final, followErr := watch[*contentv1.Reload](s.Client.FollowReload(ctx, name), newReloadView(s.Stderr, name), nil)
	if followErr != nil {
		return stoppedFollowing(ctx, followErr, name, "oriel reloads watch "+name)
	}
	if err := s.printReload(final); err != nil {
		return err
	}
	return reloadFailure(final)
}

// reloadFailure is nil for a reload that SUCCEEDED, else the error that says how it ended:
// for a script error, where in the script.
func reloadFailure(r *contentv1.Reload) error {
	switch r.GetState() {
	case contentv1.Reload_STATE_SUCCEEDED:
		return nil
	case contentv1.Reload_STATE_FAILED:
		msg := r.GetName() + " FAILED: " + oneLine(r.GetError())
		if pos := r.GetErrorPosition(); pos != nil {
			// The engine's message may start with the position already; it is said once.
			at := positionText(pos)
			msg = r.GetName() + " FAILED at " + at + ": " + strings.TrimPrefix(strings.TrimPrefix(oneLine(r.GetError()), at), ": ")
		}
		return errors.New(msg + "; the previous data keeps serving")
	case contentv1.Reload_STATE_CANCELED:
		return errors.New(r.GetName() + " was CANCELED; the previous data keeps serving")
	}
	return fmt.Errorf("%s ended %s", r.GetName(), reloadStateName(r.GetState()))
}
