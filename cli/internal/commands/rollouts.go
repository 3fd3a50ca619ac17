package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// RolloutsCmd is `oriel rollouts`.
type RolloutsCmd struct {
	ClientFlags `embed:""`

	Create   RolloutsCreateCmd   `cmd:"" help:"Deploy a template version to many tenants (platform key); --wait follows it to the end."`
	Get      RolloutsGetCmd      `cmd:"" help:"Show a rollout and its progress."`
	List     RolloutsListCmd     `cmd:"" help:"List rollouts, newest first."`
	Targets  RolloutsTargetsCmd  `cmd:"" help:"List a rollout's tenants and how each fared."`
	Watch    RolloutsWatchCmd    `cmd:"" help:"Follow a rollout until it ends, showing its progress on stderr."`
	Cancel   RolloutsCancelCmd   `cmd:"" help:"Stop a rollout: tenants not started yet are not deployed to."`
	Rollback RolloutsRollbackCmd `cmd:"" help:"Return every tenant a stopped rollout deployed to to the app it had before."`
}

// rolloutName accepts `sales-v1` or `rollouts/sales-v1`.
func rolloutName(arg string) string { return topName("rollouts", arg) }

// rolloutArg is the positional name of a rollout.
type rolloutArg struct {
	Name string `arg:"" help:"The rollout: sales-v1 or rollouts/sales-v1."`
}

// waitFlags are the flags of the commands that can follow a rollout to its end.
type waitFlags struct {
	Wait        bool          `name:"wait" env:"-" help:"Follow the rollout until it ends: progress on stderr (a bar on a terminal, else a line per change), the final rollout on stdout; exit 1 unless it ends as asked."`
	WaitTimeout time.Duration `name:"wait-timeout" placeholder:"DURATION" env:"-" help:"With --wait, stop following after this long (the rollout goes on); 0, the default, follows it to its end. --timeout bounds each call."`
}

// RolloutsCreateCmd is `oriel rollouts create`.
type RolloutsCreateCmd struct {
	ID              string    `name:"id" placeholder:"ID" env:"-" help:"The rollout's id (last segment of its name); generated when empty."`
	Version         string    `name:"version" required:"" placeholder:"TEMPLATE_VERSION" env:"-" help:"The template version to deploy, e.g. templates/sales/versions/v1."`
	Tenant          []string  `name:"tenant" xor:"selector" placeholder:"TENANT" env:"-" help:"A tenant to deploy to: acme or tenants/acme (repeatable; deployed in this order, so canaries can go first)."`
	Filter          string    `name:"filter" xor:"selector" placeholder:"FILTER" env:"-" help:"Deploy to the active tenants matching this filter, e.g. 'labels.plan = \"gold\" AND region = \"eu-west\"' (evaluated once, now)."`
	Variable        []string  `name:"variable" sep:"none" placeholder:"NAME=VALUE" env:"-" help:"A variable's value for every tenant (repeatable)."`
	TenantVariable  []string  `name:"tenant-variable" sep:"none" placeholder:"TENANT:NAME=VALUE" env:"-" help:"A variable's value for one tenant, over --variable (repeatable), e.g. acme:schema=acme_sales."`
	SpaceID         string    `name:"space-id" placeholder:"ID" env:"-" help:"The space each tenant's app goes to, created as managed if missing (templates when empty)."`
	AppID           string    `name:"app-id" placeholder:"ID" env:"-" help:"The app's id in each tenant (the template's id when empty)."`
	MaxParallel     int32     `name:"max-parallel" placeholder:"N" env:"-" help:"The most tenants deployed to at once, at most 100 (10 when 0)."`
	Wave            []string  `name:"wave" placeholder:"N|N%" env:"-" help:"A wave of N tenants, or N% of them (repeatable, in order); each waits for the one before, and the tenants left form a last wave."`
	MaxFailureRatio float64   `name:"max-failure-ratio" placeholder:"RATIO" env:"-" help:"Halt once more than this share (0 to 1) of the tenants tried so far failed, checked from the 5th on; 0 never halts."`
	OverwriteDrift  bool      `name:"overwrite-drift" env:"-" help:"Also replace apps edited since they were deployed (see oriel templates drift); they are skipped otherwise."`
	Waiting         waitFlags `embed:""`
}

// parseTenantVariables reads TENANT:NAME=VALUE values into the per-tenant map.
func parseTenantVariables(specs []string) (map[string]*contentv1.VariableValues, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := map[string]*contentv1.VariableValues{}
	for _, spec := range specs {
		tenant, pair, ok := strings.Cut(spec, ":")
		name, value, hasValue := strings.Cut(pair, "=")
		if !ok || tenant == "" || !hasValue || name == "" {
			return nil, fmt.Errorf("--tenant-variable %q: want TENANT:NAME=VALUE, e.g. acme:schema=acme_sales", spec)
		}
		key := tenantName(tenant)
		vv := out[key]
		if vv == nil {
			vv = &contentv1.VariableValues{Values: map[string]string{}}
			out[key] = vv
		}
		if _, dup := vv.Values[name]; dup {
			return nil, fmt.Errorf("--tenant-variable %q: %s of %s is given twice", spec, name, tenant)
		}
		vv.Values[name] = value
	}
	return out, nil
}

// parseWaves reads N or N% waves.
func parseWaves(specs []string) ([]*contentv1.Wave, error) {
	var out []*contentv1.Wave
	for _, spec := range specs {
		number, percent := strings.CutSuffix(spec, "%")
		n, err := strconv.ParseInt(number, 10, 32)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--wave %q: want a number of tenants or a percentage, e.g. 1 or 25%%", spec)
		}
		if percent {
			out = append(out, &contentv1.Wave{Percent: int32(n)})
		} else {
			out = append(out, &contentv1.Wave{Count: int32(n)})
		}
	}
	return out, nil
}

// rollout builds the rollout the flags describe.
func (c *RolloutsCreateCmd) rollout() (*contentv1.Rollout, error) {
	vars, err := parsePairs("--variable", c.Variable, "schema=sales")
	if err != nil {
		return nil, err
	}
	tenantVars, err := parseTenantVariables(c.TenantVariable)
	if err != nil {
		return nil, err
	}
	waves, err := parseWaves(c.Wave)
	if err != nil {
		return nil, err
	}
	sel := &contentv1.TenantSelector{Filter: c.Filter}
	for _, t := range c.Tenant {
		if t != "" {
			sel.Tenants = append(sel.Tenants, tenantName(t))
		}
	}
	r := &contentv1.Rollout{
		TemplateVersion: c.Version,
		Selector:        sel,
		Variables:       vars,
		TenantVariables: tenantVars,
		SpaceId:         c.SpaceID,
		AppId:           c.AppID,
		OverwriteDrift:  c.OverwriteDrift,
	}
	if c.MaxParallel != 0 || len(waves) > 0 || c.MaxFailureRatio != 0 {
		r.Strategy = &contentv1.Strategy{MaxParallel: c.MaxParallel, Waves: waves, MaxFailureRatio: c.MaxFailureRatio}
	}
	return r, nil
}

// Validate asks for a selector and checks every flag's syntax, before anything is sent.
func (c *RolloutsCreateCmd) Validate() error {
	if len(nonEmpty(c.Tenant)) == 0 && c.Filter == "" {
		return errors.New("missing flags: --tenant=TENANT or --filter=FILTER")
	}
	if c.Waiting.WaitTimeout < 0 {
		return fmt.Errorf("--wait-timeout must not be negative, got %s", c.Waiting.WaitTimeout)
	}
	_, err := c.rollout()
	return err
}

// Run creates the rollout and, with --wait, follows it to its end.
func (c *RolloutsCreateCmd) Run(s *Session) error {
	r, err := c.rollout()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateRollout(ctx, &contentv1.CreateRolloutRequest{RolloutId: c.ID, Rollout: r})
	if err != nil {
		return err
	}
	created := resp.GetRollout()
	if !c.Waiting.Wait {
		if err := s.printRollout(created); err != nil {
			return err
		}
		fmt.Fprintf(s.Stderr, "follow it: oriel rollouts watch %s\n", created.GetName())
		return nil
	}
	return s.follow(created, expectCompleted, c.Waiting.WaitTimeout)
}

// RolloutsGetCmd is `oriel rollouts get`.
type RolloutsGetCmd struct{ rolloutArg }

// Run shows the rollout.
func (c *RolloutsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetRollout(ctx, &contentv1.GetRolloutRequest{Name: rolloutName(c.Name)})
	if err != nil {
		return err
	}
	return s.printRollout(resp.GetRollout())
}

// RolloutsListCmd is `oriel rollouts list`.
type RolloutsListCmd struct {
	Paging pagingFlags `embed:""`
}

// Run lists the rollouts.
func (c *RolloutsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "rollouts",
		func(ctx context.Context, size int32, token string) ([]*contentv1.Rollout, string, error) {
			resp, err := s.Client.ListRollouts(ctx, &contentv1.ListRolloutsRequest{PageSize: size, PageToken: token})
			return resp.GetRollouts(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.Rollout, next string) proto.Message {
			return &contentv1.ListRolloutsResponse{Rollouts: items, NextPageToken: next}
		},
		printRolloutTable)
}

// targetStatuses maps the CLI's target statuses to the enum.
var targetStatuses = map[string]contentv1.RolloutTarget_Status{
	"pending": contentv1.RolloutTarget_STATUS_PENDING, "applying": contentv1.RolloutTarget_STATUS_APPLYING,
	"succeeded": contentv1.RolloutTarget_STATUS_SUCCEEDED, "failed": contentv1.RolloutTarget_STATUS_FAILED,
	"skipped": contentv1.RolloutTarget_STATUS_SKIPPED, "cancelled": contentv1.RolloutTarget_STATUS_CANCELLED,
	"rolled-back": contentv1.RolloutTarget_STATUS_ROLLED_BACK,
}

// RolloutsTargetsCmd is `oriel rollouts targets`.
type RolloutsTargetsCmd struct {
	rolloutArg
	Status string      `name:"status" enum:"pending,applying,succeeded,failed,skipped,cancelled,rolled-back," default:"" placeholder:"STATUS" env:"-" help:"Only the tenants with this status: pending, applying, succeeded, failed, skipped, cancelled or rolled-back."`
	Paging pagingFlags `embed:""`
}

// Run lists the rollout's targets.
func (c *RolloutsTargetsCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "targets",
		func(ctx context.Context, size int32, token string) ([]*contentv1.RolloutTarget, string, error) {
			resp, err := s.Client.ListRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{
				Parent: rolloutName(c.Name), Status: targetStatuses[c.Status], PageSize: size, PageToken: token,
			})
			return resp.GetTargets(), resp.GetNextPageToken(), err
		},
		func(items []*contentv1.RolloutTarget, next string) proto.Message {
			return &contentv1.ListRolloutTargetsResponse{Targets: items, NextPageToken: next}
		},
		printTargetTable)
}

// RolloutsWatchCmd is `oriel rollouts watch`.
type RolloutsWatchCmd struct {
	rolloutArg
	WaitTimeout time.Duration `name:"wait-timeout" placeholder:"DURATION" env:"-" help:"Stop following after this long (the rollout goes on); 0, the default, follows it to its end."`
}

// Run follows the rollout. A rollout being cancelled or rolled back is expected to end so;
// any other, to complete without a failed tenant.
func (c *RolloutsWatchCmd) Run(s *Session) error {
	if c.WaitTimeout < 0 {
		return fmt.Errorf("--wait-timeout must not be negative, got %s", c.WaitTimeout)
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetRollout(ctx, &contentv1.GetRolloutRequest{Name: rolloutName(c.Name)})
	if err != nil {
		return err
	}
	r := resp.GetRollout()
	expect := expectCompleted
	switch r.GetState() {
	case contentv1.Rollout_STATE_CANCELLING:
		expect = expectCancelled
	case contentv1.Rollout_STATE_ROLLING_BACK:
		expect = expectRolledBack
	case contentv1.Rollout_STATE_ROLLED_BACK:
		// Already ended as its last request asked; nothing to judge but that.
		expect = expectRolledBack
	}
	return s.follow(r, expect, c.WaitTimeout)
}

// RolloutsCancelCmd is `oriel rollouts cancel`.
type RolloutsCancelCmd struct {
	rolloutArg
	Waiting waitFlags `embed:""`
}

// Run cancels the rollout and, with --wait, follows it until it is CANCELLED.
func (c *RolloutsCancelCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CancelRollout(ctx, &contentv1.CancelRolloutRequest{Name: rolloutName(c.Name)})
	if err != nil {
		return err
	}
	if !c.Waiting.Wait {
		return s.printRollout(resp.GetRollout())
	}
	return s.follow(resp.GetRollout(), expectCancelled, c.Waiting.WaitTimeout)
}

// RolloutsRollbackCmd is `oriel rollouts rollback`.
type RolloutsRollbackCmd struct {
	rolloutArg
	Waiting waitFlags `embed:""`
}

// Run rolls the rollout back and, with --wait, follows it until it is ROLLED_BACK.
func (c *RolloutsRollbackCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RollbackRollout(ctx, &contentv1.RollbackRolloutRequest{Name: rolloutName(c.Name)})
	if err != nil {
		return err
	}
	if !c.Waiting.Wait {
		return s.printRollout(resp.GetRollout())
	}
	return s.follow(resp.GetRollout(), expectRolledBack, c.Waiting.WaitTimeout)
}

// watchContext is the context of a watch: it ends on an interrupt (which stops the
// watching, not what is watched) or, when limit is positive, once limit passes.
func watchContext(limit time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	if limit <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	return ctx, func() { cancel(); stop() }
}

// stoppedFollowing is the error of a follow that ended before what it followed did: err,
// or, when ctx ended (an interrupt, --wait-timeout), a note that it goes on and how to
// follow it again (watch, a command line).
func stoppedFollowing(ctx context.Context, err error, name, watch string) error {
	if ctx.Err() == nil {
		return err
	}
	why := "interrupted"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		why = "--wait-timeout passed"
	}
	return fmt.Errorf("stopped following %s (%s); it goes on: %s", name, why, watch)
}

// expectation is how a followed rollout should end for the command to succeed.
type expectation int

const (
	// expectCompleted: COMPLETED, no tenant failed.
	expectCompleted expectation = iota
	// expectCancelled: CANCELLED.
	expectCancelled
	// expectRolledBack: ROLLED_BACK, no tenant failed to roll back.
	expectRolledBack
)

// maxFailuresShown bounds the failed tenants an unsuccessful end lists; the rest are a
// command away.
const maxFailuresShown = 20

// follow watches a rollout from start until it ends, showing its progress on stderr,
// then prints it and says whether it ended as expected: an error (exit 1) naming the
// failed tenants and their reasons if not. Interrupting stops the watching, not the
// rollout.
func (s *Session) follow(start *contentv1.Rollout, expect expectation, limit time.Duration) error {
	ctx, cancel := watchContext(limit)
	defer cancel()
	name := start.GetName()
	failedBefore := start.GetProgress().GetFailed()
	final, followErr := watch[*contentv1.Rollout](s.Client.FollowRollout(ctx, name), newProgressView(s.Stderr, name), start)
	if followErr != nil {
		return stoppedFollowing(ctx, followErr, name, "oriel rollouts watch "+name)
	}
	if err := s.printRollout(final); err != nil {
		return err
	}
	p := final.GetProgress()
	switch {
	case expect == expectCompleted && final.GetState() == contentv1.Rollout_STATE_COMPLETED && p.GetFailed() == 0,
		expect == expectCancelled && final.GetState() == contentv1.Rollout_STATE_CANCELLED,
		expect == expectRolledBack && final.GetState() == contentv1.Rollout_STATE_ROLLED_BACK && p.GetFailed() <= failedBefore:
		return nil
	}
	return s.rolloutFailure(final)
}

// rolloutFailure is the error of a rollout that did not end as asked: what happened, then
// one line per failed tenant with its reason.
func (s *Session) rolloutFailure(r *contentv1.Rollout) error {
	p, name := r.GetProgress(), r.GetName()
	state := rolloutStateName(r.GetState())
	var msg string
	switch r.GetState() {
	case contentv1.Rollout_STATE_COMPLETED:
		msg = fmt.Sprintf("%s ended COMPLETED with %s of %d failed", name, plural(int(p.GetFailed()), "tenant"), p.GetTotal())
	case contentv1.Rollout_STATE_HALTED:
		msg = fmt.Sprintf("%s ended HALTED: %s of %d failed, more than its strategy allows; %d not deployed to",
			name, plural(int(p.GetFailed()), "tenant"), p.GetTotal(), p.GetCancelled())
	case contentv1.Rollout_STATE_CANCELLED:
		msg = fmt.Sprintf("%s ended CANCELLED: %s of %d not deployed to", name, plural(int(p.GetCancelled()), "tenant"), p.GetTotal())
	case contentv1.Rollout_STATE_ROLLED_BACK:
		msg = fmt.Sprintf("%s ended ROLLED_BACK: %s rolled back", name, plural(int(p.GetRolledBack()), "tenant"))
		if p.GetFailed() > 0 {
			msg += fmt.Sprintf(", %s failed", plural(int(p.GetFailed()), "tenant"))
		}
	default:
		msg = fmt.Sprintf("%s ended %s", name, state)
	}
	if p.GetFailed() == 0 {
		return errors.New(msg)
	}
	lines := []string{msg}
	ctx, cancel := s.context()
	defer cancel()
	shown := 0
	for t, err := range s.Client.AllRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{
		Parent: name, Status: contentv1.RolloutTarget_STATUS_FAILED, PageSize: maxFailuresShown,
	}) {
		if err != nil {
			lines = append(lines, "  (the failed tenants could not be listed: "+err.Error()+")")
			break
		}
		if shown == maxFailuresShown {
			lines = append(lines, fmt.Sprintf("  … and %d more: oriel rollouts targets %s --status failed", int(p.GetFailed())-shown, name))
			break
		}
		lines = append(lines, "  "+t.GetTenant()+": "+t.GetReason())
		shown++
	}
	return errors.New(strings.Join(lines, "\n"))
}
