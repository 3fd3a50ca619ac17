package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// credential is what the credential file holds.
type credential struct {
	// Agent is `tenants/{tenant}/agents/{agent}`.
	Agent string `json:"agent"`
	// Credential is the agent's `oriel_ac_…` secret.
	Credential string `json:"credential"`
}

// loadCredential reads the credential file; a missing file is fs.ErrNotExist.
func loadCredential(path string) (credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return credential{}, err
	}
	var c credential
	if err := json.Unmarshal(b, &c); err != nil {
		// Not the error's text: it may quote the file, which holds the secret.
		return credential{}, fmt.Errorf("credential file %s is not valid JSON; delete it and enroll again", path)
	}
	if c.Agent == "" || c.Credential == "" {
		return credential{}, fmt.Errorf("credential file %s lacks the agent or its credential; delete it and enroll again", path)
	}
	return c, nil
}

// saveCredential writes the credential file, readable by its owner only, atomically: a
// crash leaves either no file or the whole one.
func saveCredential(path string, c credential) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".oriel-agent-credential-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
