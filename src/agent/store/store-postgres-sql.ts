/**
 * The PostgreSQL store's tables, created on first use. `secrets` keeps the seed's exact
 * columns so an az-coordinator database can be pointed at; the unique index on `key` is
 * added for upserts (it fails, naming the duplicates' key, if an old table holds any).
 * `audit` holds the audit trail, one row per entry keyed by its time-sortable id; it has
 * no trigger, so an entry alone wakes no agent.
 * Everything runs as one implicit transaction under an advisory lock, so agents starting
 * together do not race on CREATE ... IF NOT EXISTS.
 */

/** The set-up script for `schema`, whose triggers NOTIFY `channel` after every write. */
export function setupSql(schema: string, channel: string): string {
  const s = `"${schema}"`
  const trigger = (table: string): string => `
    DROP TRIGGER IF EXISTS berth_notify ON ${s}.${table};
    CREATE TRIGGER berth_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${s}.${table}
      FOR EACH STATEMENT EXECUTE FUNCTION ${s}.berth_notify();`
  return `
    SELECT pg_advisory_xact_lock(hashtext('berth desired-state set-up'));
    CREATE SCHEMA IF NOT EXISTS ${s};
    CREATE TABLE IF NOT EXISTS ${s}.services (
      name TEXT PRIMARY KEY,
      spec JSONB NOT NULL,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS ${s}.secrets (key TEXT NOT NULL, ciphertext bytea NOT NULL);
    CREATE UNIQUE INDEX IF NOT EXISTS secrets_key_unique ON ${s}.secrets (key);
    CREATE TABLE IF NOT EXISTS ${s}.audit (id TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL, entry JSONB NOT NULL);
    CREATE OR REPLACE FUNCTION ${s}.berth_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${channel}', TG_TABLE_NAME); RETURN NULL; END $$;
    ${trigger('services')}
    ${trigger('secrets')}`
}
