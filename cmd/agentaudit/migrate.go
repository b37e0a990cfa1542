package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/store"
)

func newMigrateCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the schema migrations the database lacks",
		Long: `migrate creates or updates the audit_logs, pending_approvals and
chat_messages tables and lists the migrations it applied. Applied
migrations are recorded in d1_migrations, as wrangler records them.
Other commands apply missing migrations themselves when they open the
database.`,
		Example: `  agentaudit migrate --db sqlite:/var/lib/agent/audit.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSession(cmd.Context(), false, store.WithAutoMigrate(false))
			if err != nil {
				return err
			}
			applied, err := s.backend.Migrate(cmd.Context())
			for _, name := range applied {
				fmt.Fprintf(a.stdout, "applied %s\n", name)
			}
			if err == nil && len(applied) == 0 {
				fmt.Fprintln(a.stdout, "database is up to date")
			}
			return joinClose(cmd.Context(), err, s)
		},
	}
}
