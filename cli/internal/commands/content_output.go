package commands

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// enumName drops an enum value's prefix: SHARED, not TYPE_SHARED.
func enumName(s fmt.Stringer, prefix string) string {
	return strings.TrimPrefix(s.String(), prefix)
}

// lowerEnumName is an enum value as the CLI's flags take it: consumer, rolled-back.
func lowerEnumName(s fmt.Stringer, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(enumName(s, prefix)), "_", "-")
}

func rolloutStateName(s contentv1.Rollout_State) string { return enumName(s, "STATE_") }

// lastSegment is a name's id: 3 for tenants/acme/apps/sales/revisions/3.
func lastSegment(name string) string {
	if name == "" {
		return ""
	}
	return path.Base(name)
}

// definitionSummary describes a definition on one line: 2 sheets, 5 charts.
func definitionSummary(d *contentv1.AppDefinition) string {
	charts := 0
	for _, s := range d.GetSheets() {
		charts += len(s.GetCharts())
	}
	return fmt.Sprintf("%s, %s", plural(len(d.GetSheets()), "sheet"), plural(charts, "chart"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// scriptSummary is the first line of a load script and how many more there are.
func scriptSummary(script string) string {
	script = strings.TrimSpace(script)
	if script == "" {
		return ""
	}
	first, rest, more := strings.Cut(script, "\n")
	if !more {
		return first
	}
	return fmt.Sprintf("%s (+%s)", strings.TrimSpace(first), plural(strings.Count(rest, "\n")+1, "line"))
}

func (s *Session) printSpace(sp *contentv1.Space) error {
	if s.structured() {
		return s.print(sp)
	}
	b := newBlock(s.Stdout)
	b.row("Name", sp.GetName())
	b.row("Display name", sp.GetDisplayName())
	b.row("Type", enumName(sp.GetType(), "TYPE_"))
	b.row("Description", sp.GetDescription())
	b.row("Created", formatTime(sp.GetCreateTime()))
	b.row("Updated", formatTime(sp.GetUpdateTime()))
	b.row("Etag", sp.GetEtag())
	return b.flush()
}

func printSpaceTable(w io.Writer, spaces []*contentv1.Space) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tTYPE\tUPDATED")
	for _, sp := range spaces {
		writeRow(tw, []string{sp.GetName(), sp.GetDisplayName(), enumName(sp.GetType(), "TYPE_"), formatTime(sp.GetUpdateTime())})
	}
	return tw.Flush()
}

func (s *Session) printSpaceMember(m *contentv1.SpaceMember) error {
	if s.structured() {
		return s.print(m)
	}
	b := newBlock(s.Stdout)
	b.row("Name", m.GetName())
	if m.GetUser() != "" {
		b.row("User", m.GetUser())
	} else {
		b.row("Group", m.GetGroup())
	}
	b.row("Role", lowerEnumName(m.GetRole(), "SPACE_ROLE_"))
	b.row("Updated", formatTime(m.GetUpdateTime()))
	return b.flush()
}

func printSpaceMemberTable(w io.Writer, members []*contentv1.SpaceMember) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tMEMBER\tROLE\tUPDATED")
	for _, m := range members {
		writeRow(tw, []string{m.GetName(), m.GetUser() + m.GetGroup(), lowerEnumName(m.GetRole(), "SPACE_ROLE_"), formatTime(m.GetUpdateTime())})
	}
	return tw.Flush()
}

func (s *Session) printApp(a *contentv1.App) error {
	if s.structured() {
		return s.print(a)
	}
	b := newBlock(s.Stdout)
	b.row("Name", a.GetName())
	b.row("Title", a.GetTitle())
	b.row("Description", a.GetDescription())
	b.row("Space", a.GetSpace())
	b.row("State", enumName(a.GetState(), "STATE_"))
	b.row("Owner", a.GetOwner())
	b.row("Labels", labelList(a.GetLabels(), ", "))
	b.row("Revision", a.GetRevision())
	if a.GetTemplateVersion() != "" {
		b.row("Template version", a.GetTemplateVersion())
	}
	if a.GetPublishedFrom() != "" {
		b.row("Published from", a.GetPublishedFrom())
	}
	b.row("Content", definitionSummary(a.GetDefinition()))
	b.row("Load script", scriptSummary(a.GetDefinition().GetLoadScript()))
	b.row("Variables", labelList(a.GetDefinition().GetVariables(), ", "))
	b.row("Created", formatTime(a.GetCreateTime()))
	b.row("Updated", formatTime(a.GetUpdateTime()))
	if a.GetPurgeTime() != nil {
		b.row("Purge time", formatTime(a.GetPurgeTime()))
	}
	b.row("Etag", a.GetEtag())
	return b.flush()
}

func printAppTable(w io.Writer, apps []*contentv1.App) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tTITLE\tSPACE\tSTATE\tREVISION\tTEMPLATE VERSION\tUPDATED")
	for _, a := range apps {
		writeRow(tw, []string{a.GetName(), a.GetTitle(), lastSegment(a.GetSpace()), enumName(a.GetState(), "STATE_"),
			a.GetRevision(), a.GetTemplateVersion(), formatTime(a.GetUpdateTime())})
	}
	return tw.Flush()
}

func printRevisionTable(w io.Writer, revisions []*contentv1.AppRevision) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tSOURCE\tTEMPLATE VERSION\tTITLE\tAUTHOR\tCREATED")
	for _, r := range revisions {
		writeRow(tw, []string{r.GetName(), enumName(r.GetSource(), "SOURCE_"), r.GetTemplateVersion(), r.GetTitle(),
			r.GetAuthor(), formatTime(r.GetCreateTime())})
	}
	return tw.Flush()
}

func (s *Session) printTemplate(t *contentv1.Template) error {
	if s.structured() {
		return s.print(t)
	}
	b := newBlock(s.Stdout)
	b.row("Name", t.GetName())
	b.row("Display name", t.GetDisplayName())
	b.row("Description", t.GetDescription())
	b.row("Latest version", t.GetLatestVersion())
	b.row("Created", formatTime(t.GetCreateTime()))
	b.row("Updated", formatTime(t.GetUpdateTime()))
	return b.flush()
}

func printTemplateTable(w io.Writer, templates []*contentv1.Template) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tLATEST VERSION\tUPDATED")
	for _, t := range templates {
		writeRow(tw, []string{t.GetName(), t.GetDisplayName(), t.GetLatestVersion(), formatTime(t.GetUpdateTime())})
	}
	return tw.Flush()
}

// variableList describes declared variables on one line: schema (required), region=eu-west.
func variableList(vars []*contentv1.TemplateVariable) string {
	parts := make([]string, len(vars))
	for i, v := range vars {
		switch {
		case v.GetRequired():
			parts[i] = v.GetName() + " (required)"
		case v.GetDefaultValue() != "":
			parts[i] = v.GetName() + "=" + v.GetDefaultValue()
		default:
			parts[i] = v.GetName()
		}
	}
	return strings.Join(parts, ", ")
}

func (s *Session) printTemplateVersion(v *contentv1.TemplateVersion) error {
	if s.structured() {
		return s.print(v)
	}
	b := newBlock(s.Stdout)
	b.row("Name", v.GetName())
	b.row("Title", v.GetTitle())
	b.row("Variables", variableList(v.GetVariables()))
	b.row("Content", definitionSummary(v.GetDefinition()))
	b.row("Load script", scriptSummary(v.GetDefinition().GetLoadScript()))
	b.row("Notes", v.GetNotes())
	b.row("Created", formatTime(v.GetCreateTime()))
	return b.flush()
}

func printTemplateVersionTable(w io.Writer, versions []*contentv1.TemplateVersion) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tTITLE\tVARIABLES\tCREATED")
	for _, v := range versions {
		writeRow(tw, []string{v.GetName(), v.GetTitle(), variableList(v.GetVariables()), formatTime(v.GetCreateTime())})
	}
	return tw.Flush()
}

func printDriftTable(w io.Writer, drifts []*contentv1.Drift) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "APP\tTEMPLATE VERSION\tDEPLOYED REVISION\tCURRENT REVISION")
	for _, d := range drifts {
		writeRow(tw, []string{d.GetApp(), d.GetTemplateVersion(), lastSegment(d.GetDeployedRevision()), lastSegment(d.GetCurrentRevision())})
	}
	return tw.Flush()
}

// selectorText describes a rollout's tenants: the list, or the filter.
func selectorText(sel *contentv1.TenantSelector) string {
	if sel.GetFilter() != "" {
		return sel.GetFilter()
	}
	return strings.Join(sel.GetTenants(), ", ")
}

// strategyText describes a rollout's pace on one line.
func strategyText(st *contentv1.Strategy) string {
	parallel := st.GetMaxParallel()
	if parallel == 0 {
		parallel = 10
	}
	parts := []string{fmt.Sprintf("%d at once", parallel)}
	if len(st.GetWaves()) > 0 {
		waves := make([]string, len(st.GetWaves()))
		for i, w := range st.GetWaves() {
			if w.GetPercent() > 0 {
				waves[i] = fmt.Sprintf("%d%%", w.GetPercent())
			} else {
				waves[i] = strconv.Itoa(int(w.GetCount()))
			}
		}
		parts = append(parts, "waves of "+strings.Join(waves, ", ")+", then the rest")
	}
	if r := st.GetMaxFailureRatio(); r > 0 {
		parts = append(parts, "halt when more than "+strconv.FormatFloat(r, 'g', -1, 64)+" failed")
	}
	return strings.Join(parts, "; ")
}

// progressText describes a rollout's progress on one line, the counts that are not zero
// after the total.
func progressText(p *contentv1.Progress) string {
	parts := []string{fmt.Sprintf("%s: %d succeeded, %d failed, %d skipped", plural(int(p.GetTotal()), "tenant"),
		p.GetSucceeded(), p.GetFailed(), p.GetSkipped())}
	for _, c := range []struct {
		n    int32
		what string
	}{{p.GetCancelled(), "cancelled"}, {p.GetRolledBack(), "rolled back"}, {p.GetApplying(), "applying"}, {p.GetPending(), "pending"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

func (s *Session) printRollout(r *contentv1.Rollout) error {
	if s.structured() {
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	b.row("Name", r.GetName())
	b.row("Template version", r.GetTemplateVersion())
	if r.GetSelector().GetFilter() != "" {
		b.row("Filter", r.GetSelector().GetFilter())
	} else {
		b.row("Tenants", selectorText(r.GetSelector()))
	}
	b.row("Space", r.GetSpaceId())
	b.row("App", r.GetAppId())
	b.row("Variables", labelList(r.GetVariables(), ", "))
	if n := len(r.GetTenantVariables()); n > 0 {
		b.row("Tenant variables", plural(n, "tenant")+" with values of their own")
	}
	b.row("Strategy", strategyText(r.GetStrategy()))
	if r.GetOverwriteDrift() {
		b.row("Drift", "overwritten")
	} else {
		b.row("Drift", "skipped")
	}
	b.row("State", rolloutStateName(r.GetState()))
	b.row("Progress", progressText(r.GetProgress()))
	b.row("Creator", r.GetCreator())
	b.row("Created", formatTime(r.GetCreateTime()))
	b.row("Updated", formatTime(r.GetUpdateTime()))
	if r.GetEndTime() != nil {
		b.row("Ended", formatTime(r.GetEndTime()))
	}
	return b.flush()
}

func printRolloutTable(w io.Writer, rollouts []*contentv1.Rollout) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tTEMPLATE VERSION\tSTATE\tTOTAL\tSUCCEEDED\tFAILED\tSKIPPED\tCREATED")
	for _, r := range rollouts {
		p := r.GetProgress()
		writeRow(tw, []string{r.GetName(), r.GetTemplateVersion(), rolloutStateName(r.GetState()),
			strconv.Itoa(int(p.GetTotal())), strconv.Itoa(int(p.GetSucceeded())), strconv.Itoa(int(p.GetFailed())),
			strconv.Itoa(int(p.GetSkipped())), formatTime(r.GetCreateTime())})
	}
	return tw.Flush()
}

func printTargetTable(w io.Writer, targets []*contentv1.RolloutTarget) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "TENANT\tWAVE\tSTATUS\tAPP\tPREVIOUS\tAPPLIED\tREASON")
	for _, t := range targets {
		writeRow(tw, []string{t.GetTenant(), strconv.Itoa(int(t.GetWave())), enumName(t.GetStatus(), "STATUS_"), t.GetApp(),
			lastSegment(t.GetPreviousRevision()), lastSegment(t.GetAppliedRevision()), t.GetReason()})
	}
	return tw.Flush()
}

func reloadStateName(s contentv1.Reload_State) string { return enumName(s, "STATE_") }

// positionText is a place in a load script: line 3, column 5.
func positionText(p *contentv1.ScriptPosition) string {
	return fmt.Sprintf("line %d, column %d", p.GetLine(), p.GetColumn())
}

// tablesText describes the tables a reload loaded on one line: Sales (3 rows), Regions (2 rows).
func tablesText(tables []*contentv1.ReloadTable) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = fmt.Sprintf("%s (%s)", t.GetName(), plural(int(t.GetRows()), "row"))
	}
	return strings.Join(parts, ", ")
}

// reloadRows is how many rows a reload loaded in all.
func reloadRows(r *contentv1.Reload) int64 {
	var n int64
	for _, t := range r.GetTables() {
		n += t.GetRows()
	}
	return n
}

// logTime is a log line's time of day, which is what reading a log wants.
func logTime(l *contentv1.ReloadLogLine) string {
	if l.GetTime() == nil {
		return ""
	}
	return l.GetTime().AsTime().UTC().Format("15:04:05.000")
}

// printReload writes a reload: its block, then its log (GetReload and a followed reload
// have one; a created or listed one does not).
func (s *Session) printReload(r *contentv1.Reload) error {
	if s.structured() {
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	b.row("Name", r.GetName())
	b.row("State", reloadStateName(r.GetState()))
	b.row("App revision", r.GetAppRevision())
	b.row("Variables", labelList(r.GetVariables(), ", "))
	b.row("Tables", tablesText(r.GetTables()))
	if r.GetError() != "" {
		b.row("Error", r.GetError())
	}
	if pos := r.GetErrorPosition(); pos != nil {
		b.row("Error at", positionText(pos))
	}
	if r.GetDuration() != nil {
		b.row("Duration", r.GetDuration().AsDuration().Round(time.Millisecond).String())
	}
	if r.GetPeakMemoryBytes() > 0 {
		b.row("Peak memory", byteSize(r.GetPeakMemoryBytes()))
	}
	if r.GetModelMemoryBytes() > 0 {
		b.row("Model memory", byteSize(r.GetModelMemoryBytes()))
	}
	b.row("Creator", r.GetCreator())
	b.row("Created", formatTime(r.GetCreateTime()))
	if r.GetStartTime() != nil {
		b.row("Started", formatTime(r.GetStartTime()))
	}
	if r.GetEndTime() != nil {
		b.row("Ended", formatTime(r.GetEndTime()))
	}
	b.row("Etag", r.GetEtag())
	if err := b.flush(); err != nil {
		return err
	}
	if len(r.GetLog()) == 0 {
		return nil
	}
	fmt.Fprintln(s.Stdout)
	tw := newTable(s.Stdout)
	fmt.Fprintln(tw, "TIME\tLOG")
	for _, l := range r.GetLog() {
		writeRow(tw, []string{logTime(l), l.GetMessage()})
	}
	return tw.Flush()
}

func printReloadTable(w io.Writer, reloads []*contentv1.Reload) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tSTATE\tREVISION\tTABLES\tROWS\tDURATION\tCREATED")
	for _, r := range reloads {
		duration := ""
		if r.GetDuration() != nil {
			duration = r.GetDuration().AsDuration().Round(time.Millisecond).String()
		}
		writeRow(tw, []string{r.GetName(), reloadStateName(r.GetState()), lastSegment(r.GetAppRevision()),
			strconv.Itoa(len(r.GetTables())), strconv.FormatInt(reloadRows(r), 10), duration, formatTime(r.GetCreateTime())})
	}
	return tw.Flush()
}
