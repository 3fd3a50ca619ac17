package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var transactionBehaviours = []behaviour{
	{"commits every kind of write when fn returns nil", commitsWhenFnReturnsNil},
	{"rolls back every kind of write when fn fails", rollsBackWhenFnFails},
	{"rolls back and re-panics when fn panics", rollsBackWhenFnPanics},
	{"an expected error leaves the transaction usable", expectedErrorsLeaveTransactionUsable},
}

// writeSet is one of each kind of write a transaction can make.
type writeSet struct {
	tenant, template, rollout string
}

func newWriteSet() writeSet {
	return writeSet{tenant: newTenant(), template: newTemplateID(), rollout: newRolloutID()}
}

// write makes every write of w through tx.
func (w writeSet) write(ctx context.Context, tx store.Tx) error {
	if err := tx.CreateSpace(ctx, w.tenant, "space", newSpace(w.tenant, "space", contentv1.Space_TYPE_SHARED)); err != nil {
		return err
	}
	if err := tx.PutSpaceMember(ctx, w.tenant, "space",
		newMember(w.tenant, "space", userName(w.tenant, "ann"), false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch)); err != nil {
		return err
	}
	if err := tx.CreateApp(ctx, w.tenant, "app", newApp(w.tenant, "space", "app"), saveRevision(epoch)); err != nil {
		return err
	}
	if err := tx.CreateTemplate(ctx, w.template, newTemplate(w.template)); err != nil {
		return err
	}
	if err := tx.CreateTemplateVersion(ctx, w.template, "v1", newVersion(w.template, "v1", 1, epoch)); err != nil {
		return err
	}
	r := newRollout(w.rollout, store.TemplateVersionName(w.template, "v1"), []string{w.tenant})
	return tx.CreateRollout(ctx, w.rollout, r, newTargets([]string{w.tenant}))
}

// requireVisible fails the test unless every write of w is committed.
func (w writeSet) requireVisible(t *testing.T, s store.Store) {
	t.Helper()
	mustGetSpace(t, s, w.tenant, "space")
	testkit.RequireEqual(t, "members committed", 1, len(mustListMembers(t, s, w.tenant, "space")))
	mustGetApp(t, s, w.tenant, "app")
	testkit.RequireStrings(t, "revisions committed", []string{"1"}, revisionNumbers(t, s, w.tenant, "app"))
	testkit.RequireEqual(t, "latest version committed", store.TemplateVersionName(w.template, "v1"),
		mustGetTemplate(t, s, w.template).GetLatestVersion())
	testkit.RequireEqual(t, "targets committed", 1, len(mustListTargets(t, s, w.rollout, 0)))
}

// requireInvisible fails the test if any write of w is visible, then proves every id of w
// free by making them all again.
func (w writeSet) requireInvisible(t *testing.T, s store.Store) {
	t.Helper()
	_, err := s.GetSpace(t.Context(), w.tenant, "space")
	testkit.RequireErrorIs(t, "GetSpace after rollback", err, store.ErrNotFound)
	requireRoles(t, s, w.tenant, []string{userName(w.tenant, "ann")}, nil)
	_, err = s.GetApp(t.Context(), w.tenant, "app")
	testkit.RequireErrorIs(t, "GetApp after rollback", err, store.ErrNotFound)
	_, err = s.GetAppRevision(t.Context(), w.tenant, "app", 1)
	testkit.RequireErrorIs(t, "GetAppRevision after rollback", err, store.ErrNotFound)
	_, err = s.GetTemplate(t.Context(), w.template)
	testkit.RequireErrorIs(t, "GetTemplate after rollback", err, store.ErrNotFound)
	_, err = s.GetTemplateVersion(t.Context(), w.template, "v1")
	testkit.RequireErrorIs(t, "GetTemplateVersion after rollback", err, store.ErrNotFound)
	_, err = s.GetRollout(t.Context(), w.rollout)
	testkit.RequireErrorIs(t, "GetRollout after rollback", err, store.ErrNotFound)
	_, err = s.ListTargets(t.Context(), w.rollout, 0, everything)
	testkit.RequireErrorIs(t, "ListTargets after rollback", err, store.ErrNotFound)

	mustTx(t, s, "making the rolled-back writes again", w.write)
	w.requireVisible(t, s)
}

func commitsWhenFnReturnsNil(t *testing.T, s store.Store) {
	w := newWriteSet()
	mustTx(t, s, "ReadWriteTx", w.write)
	w.requireVisible(t, s)
}

func rollsBackWhenFnFails(t *testing.T, s store.Store) {
	w := newWriteSet()
	errAbort := errors.New("abort after writing")
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := w.write(ctx, tx); err != nil {
			t.Errorf("writing: %v", err)
		}
		return errAbort
	})
	testkit.RequireErrorIs(t, "ReadWriteTx whose fn fails", err, errAbort)
	w.requireInvisible(t, s)
}

func rollsBackWhenFnPanics(t *testing.T, s store.Store) {
	w := newWriteSet()
	type panicValue struct{ tenant string }
	thrown := panicValue{w.tenant}
	caught := func() (caught any) {
		defer func() { caught = recover() }()
		err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			if err := w.write(ctx, tx); err != nil {
				t.Errorf("writing: %v", err)
			}
			panic(thrown)
		})
		t.Errorf("ReadWriteTx returned %v instead of panicking", err)
		return nil
	}()
	if caught != thrown {
		t.Fatalf("recovered %v, want fn's own panic %v", caught, thrown)
	}
	w.requireInvisible(t, s)
}

// expectedErrorsLeaveTransactionUsable proves more than the Tx contract asks (it lets
// callers treat every error as spending the transaction): a caller may go on after an
// expected error, as the rollout engine does when it creates a tenant's space "if missing".
// In PostgreSQL a failed statement would abort the rest of the transaction.
func expectedErrorsLeaveTransactionUsable(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "space")
	app := mustCreateApp(t, s, tenant, "space", "app")
	tpl := newTemplateID()
	mustCreateTemplate(t, s, tpl)
	mustCreateVersion(t, s, tpl, "v1", 1, epoch)
	rollout := newRolloutID()
	mustCreatePlainRollout(t, s, rollout, tenant)
	missingTpl := newTemplateID()

	for _, tc := range []struct {
		name string
		want error
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"CreateSpace of a taken id", store.ErrAlreadyExists, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateSpace(ctx, tenant, "space", newSpace(tenant, "space", contentv1.Space_TYPE_SHARED))
		}},
		{"UpdateSpace with a stale etag", store.ErrEtagMismatch, func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateSpace(ctx, tenant, "space", "stale", newSpace(tenant, "space", contentv1.Space_TYPE_SHARED))
		}},
		{"DeleteSpace of a space with apps", store.ErrSpaceNotEmpty, func(ctx context.Context, tx store.Tx) error {
			return tx.DeleteSpace(ctx, tenant, "space", "")
		}},
		{"DeleteSpaceMember of a missing member", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			return tx.DeleteSpaceMember(ctx, tenant, "space", "u-nobody")
		}},
		{"PutSpaceMember in a missing space", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			return tx.PutSpaceMember(ctx, tenant, "missing",
				newMember(tenant, "missing", userName(tenant, "ann"), false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
		}},
		{"CreateApp of a taken id", store.ErrAlreadyExists, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateApp(ctx, tenant, "app", newApp(tenant, "space", "app"), saveRevision(epoch))
		}},
		{"CreateApp in a missing space", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateApp(ctx, tenant, "lost", newApp(tenant, "missing", "lost"), saveRevision(epoch))
		}},
		{"SaveApp with a stale etag", store.ErrEtagMismatch, func(ctx context.Context, tx store.Tx) error {
			return tx.SaveApp(ctx, tenant, "app", "stale", newApp(tenant, "space", "app"), saveRevision(epoch))
		}},
		{"SetAppState with a stale etag", store.ErrEtagMismatch, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetAppState(ctx, tenant, "app", "stale", contentv1.App_STATE_DELETED, nil, epoch)
			return err
		}},
		{"GetApp of a missing app", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetApp(ctx, tenant, "missing")
			return err
		}},
		{"CreateTemplate of a taken id", store.ErrAlreadyExists, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateTemplate(ctx, tpl, newTemplate(tpl))
		}},
		{"CreateTemplateVersion of a taken id", store.ErrAlreadyExists, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateTemplateVersion(ctx, tpl, "v1", newVersion(tpl, "v1", 2, at(time.Hour)))
		}},
		{"CreateTemplateVersion of a missing template", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateTemplateVersion(ctx, missingTpl, "v1", newVersion(missingTpl, "v1", 1, epoch))
		}},
		{"CreateRollout of a taken id", store.ErrAlreadyExists, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateRollout(ctx, rollout, newRollout(rollout, "templates/x/versions/v1", nil), newTargets([]string{tenant}))
		}},
		{"TransitionRollout from another state", store.ErrStateConflict, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.TransitionRollout(ctx, rollout, []contentv1.Rollout_State{contentv1.Rollout_STATE_RUNNING},
				contentv1.Rollout_STATE_COMPLETED, epoch, nil)
			return err
		}},
		{"UpdateTarget of a tenant not targeted", store.ErrNotFound, func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateTarget(ctx, &store.Target{Rollout: rollout, Tenant: "nobody"}, epoch)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			space := newTenant() // a write after the error, to prove the transaction still commits
			mustTx(t, s, "ReadWriteTx", func(ctx context.Context, tx store.Tx) error {
				testkit.RequireErrorIs(t, tc.name, tc.fn(ctx, tx), tc.want)
				return tx.CreateSpace(ctx, tenant, space, newSpace(tenant, space, contentv1.Space_TYPE_SHARED))
			})
			mustGetSpace(t, s, tenant, space)
		})
	}
	testkit.RequireProto(t, "the app after the refused writes", app, mustGetApp(t, s, tenant, "app"))
}
