// Command retriever-postgres is the tutor's default retriever: PostgreSQL
// full-text search over lesson chunks.
//
// Chunks live in their own table (default retriever_chunks, with
// retriever_chunks_lessons for content hashes), created at start when
// missing. Search turns the question into a tsquery with
// websearch_to_tsquery (so any text is valid syntax), ORs its words so a
// chunk matching some of them still ranks, ranks with ts_rank_cd over a
// weighted tsvector (section heading A, body B), and filters course and
// stage <= max_stage in SQL. Ingest replaces a course's lessons by content
// hash in one transaction.
//
// Config (JSON): {"dsn": "postgres://...", "table": "retriever_chunks",
// "language": "english", "max_conns": 8}. Without "dsn" the DSN comes
// from the environment, RETRIEVER_POSTGRES_DSN.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/plugins"
)

type config struct {
	DSN      string `json:"dsn"`
	Table    string `json:"table"`
	Language string `json:"language"`
	MaxConns int32  `json:"max_conns"`
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// MaxQueryBytes: longer questions are cut; the host cuts at the same size.
const MaxQueryBytes = 4 << 10

type retriever struct {
	pool                   *pgxpool.Pool
	chunks, lessons, terms string
	lang                   string
}

func (r *retriever) Configure(ctx context.Context, raw []byte) error {
	c := config{Table: "retriever_chunks", Language: "english", MaxConns: 8}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.DSN == "" {
		c.DSN = os.Getenv("RETRIEVER_POSTGRES_DSN")
	}
	switch {
	case c.DSN == "":
		return errors.New("dsn: missing (config dsn or env RETRIEVER_POSTGRES_DSN)")
	case !identRE.MatchString(c.Table):
		return fmt.Errorf("table: %q is not a plain lower-case SQL name", c.Table)
	case !identRE.MatchString(c.Language):
		return fmt.Errorf("language: %q is not a text search configuration name", c.Language)
	case c.MaxConns < 1:
		return fmt.Errorf("max_conns: %d is below 1", c.MaxConns)
	}
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	pc.MaxConns = c.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	r.pool, r.chunks, r.lessons, r.terms, r.lang = pool, c.Table, c.Table+"_lessons", c.Table+"_terms", c.Language
	if err := r.migrate(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("creating tables: %w", err)
	}
	return nil
}

// migrate creates the tables when missing, under an advisory lock so
// several plugin processes may start at once.
func (r *retriever) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "retriever-postgres:"+r.chunks); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`
			CREATE TABLE IF NOT EXISTS %[1]s (
				course       text NOT NULL,
				lesson       text NOT NULL,
				stage        int  NOT NULL CHECK (stage >= 1),
				title        text NOT NULL,
				source       text NOT NULL,
				content_hash text NOT NULL,
				PRIMARY KEY (course, lesson)
			);
			CREATE TABLE IF NOT EXISTS %[2]s (
				id      text NOT NULL PRIMARY KEY,
				course  text NOT NULL,
				lesson  text NOT NULL,
				stage   int  NOT NULL,
				ord     int  NOT NULL,
				title   text NOT NULL,
				section text NOT NULL,
				anchor  text NOT NULL,
				source  text NOT NULL,
				body    text NOT NULL,
				tsv     tsvector GENERATED ALWAYS AS (
				            setweight(to_tsvector('%[3]s', section), 'A') ||
				            setweight(to_tsvector('%[3]s', body), 'B')) STORED,
				FOREIGN KEY (course, lesson) REFERENCES %[1]s ON DELETE CASCADE
			);
			CREATE TABLE IF NOT EXISTS %[2]s_terms (
				course text NOT NULL,
				lexeme text NOT NULL,
				ndoc   int  NOT NULL,
				PRIMARY KEY (course, lexeme)
			);
			CREATE INDEX IF NOT EXISTS %[2]s_tsv_idx ON %[2]s USING gin (tsv);
			CREATE INDEX IF NOT EXISTS %[2]s_course_idx ON %[2]s (course, stage, lesson, ord);`,
			r.lessons, r.chunks, r.lang))
		return err
	})
}

func (r *retriever) Health(ctx context.Context) error {
	if r.pool == nil {
		return errors.New("not configured")
	}
	return r.pool.Ping(ctx)
}

// clean makes text safe for PostgreSQL text: no NUL, at most MaxQueryBytes.
func clean(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", " "), " ")
	if len(s) > MaxQueryBytes {
		s = strings.ToValidUTF8(s[:MaxQueryBytes], "")
	}
	return s
}

func (r *retriever) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	if r.pool == nil {
		return nil, errors.New("not configured")
	}
	if q.MaxStage < 1 || q.TopK < 1 || q.Course == "" {
		return nil, nil
	}
	strict, loose, err := r.analyse(ctx, q.Course, clean(q.Text))
	if err != nil || loose == "" {
		return nil, err
	}
	// Chunks matching the whole question rank first; only when they are
	// fewer than top_k does a second pass add chunks matching some of its
	// distinctive words. The second pass is skipped in SQL when not needed.
	rows, err := r.pool.Query(ctx, fmt.Sprintf(`
		WITH strict AS (
			SELECT id, course, lesson, stage, title, section, anchor, source, body, ord,
			       ts_rank_cd(tsv, $4::tsquery) AS rank, 0 AS pass
			FROM %[1]s
			WHERE course = $1 AND stage <= $2 AND tsv @@ $3::tsquery
			ORDER BY rank DESC, stage, lesson, ord, id
			LIMIT $5
		),
		loose AS (
			SELECT id, course, lesson, stage, title, section, anchor, source, body, ord,
			       ts_rank_cd(tsv, $4::tsquery) AS rank, 1 AS pass
			FROM %[1]s
			WHERE (SELECT count(*) FROM strict) < $5
			  AND course = $1 AND stage <= $2 AND tsv @@ $4::tsquery AND NOT tsv @@ $3::tsquery
			ORDER BY rank DESC, stage, lesson, ord, id
			LIMIT $5
		)
		SELECT id, course, lesson, stage, title, section, anchor, source, body, rank FROM (
			SELECT * FROM strict UNION ALL SELECT * FROM loose
		) r
		ORDER BY pass, rank DESC, stage, lesson, ord, id
		LIMIT $5`, r.chunks), q.Course, q.MaxStage, strict, loose, q.TopK)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (plugins.Chunk, error) {
		var c plugins.Chunk
		var rank float32
		err := row.Scan(&c.ID, &c.Course, &c.Lesson, &c.Stage, &c.Title, &c.Section, &c.Anchor, &c.Source, &c.Text, &rank)
		c.Score = float64(rank)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	// Scores must fall with the order: a chunk of the second pass scores
	// below every chunk of the first.
	for i := 1; i < len(cs); i++ {
		if cs[i].Score > cs[i-1].Score {
			cs[i].Score = cs[i-1].Score
		}
	}
	return cs, nil
}

// CommonShare: a word in more than this share of a course's chunks says
// little about which chunk is meant; the loose pass leaves it out.
const CommonShare = 0.2

// analyse parses the question with websearch_to_tsquery (any text is
// valid syntax; its ANDs make the strict query) and builds the loose query:
// the question's words ORed, without the course's most common ones (from
// the term statistics Ingest keeps), or the two rarest when all are
// common. Both are empty when the question has no searchable word.
func (r *retriever) analyse(ctx context.Context, course, text string) (strict, loose string, err error) {
	rows, err := r.pool.Query(ctx, fmt.Sprintf(`
		SELECT websearch_to_tsquery('%[2]s', $2)::text, l.lexeme, coalesce(t.ndoc, 0),
		       coalesce((SELECT ndoc FROM %[1]s WHERE course = $1 AND lexeme = ''), 0)
		FROM (SELECT DISTINCT lexeme FROM unnest(to_tsvector('%[2]s', $2))) l
		LEFT JOIN %[1]s t ON t.course = $1 AND t.lexeme = l.lexeme
		ORDER BY 3, 2`, r.terms, r.lang), course, text)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	var words []string
	var rare []string
	for rows.Next() {
		var lexeme string
		var ndoc, total int
		if err := rows.Scan(&strict, &lexeme, &ndoc, &total); err != nil {
			return "", "", err
		}
		if ndoc == 0 {
			continue // in no chunk of the course
		}
		if len(rare) < 2 {
			rare = append(rare, lexeme)
		}
		if float64(ndoc) <= CommonShare*float64(total) {
			words = append(words, lexeme)
		}
	}
	if err := rows.Err(); err != nil {
		return "", "", err
	}
	if len(words) == 0 {
		words = rare
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", "''") + "'"
	}
	if strict == "" {
		strict = strings.Join(quoted, " & ")
	}
	return strict, strings.Join(quoted, " | "), nil
}

func (r *retriever) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) (plugins.IngestReport, error) {
	var rep plugins.IngestReport
	if r.pool == nil {
		return rep, errors.New("not configured")
	}
	if course == "" {
		return rep, errors.New("ingest without a course")
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rep = plugins.IngestReport{}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "retriever-postgres:"+r.chunks+":"+course); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT lesson, content_hash FROM %s WHERE course = $1`, r.lessons), course)
		if err != nil {
			return err
		}
		held, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Lesson, Hash string }])
		if err != nil {
			return err
		}
		hashes := map[string]string{}
		for _, h := range held {
			hashes[h.Lesson] = h.Hash
		}
		keep := map[string]bool{}
		var write []plugins.Lesson
		for _, l := range lessons {
			if l.Lesson == "" || l.Stage < 1 {
				return fmt.Errorf("lesson %q: needs a name and a stage >= 1", l.Lesson)
			}
			if keep[l.Lesson] {
				return fmt.Errorf("lesson %q twice", l.Lesson)
			}
			keep[l.Lesson] = true
			switch h, ok := hashes[l.Lesson]; {
			case !ok:
				rep.Added++
			case h == l.ContentHash && h != "":
				rep.Unchanged++
				continue
			default:
				rep.Updated++
			}
			write = append(write, l)
		}
		var drop []string
		for name := range hashes {
			if !keep[name] {
				drop = append(drop, name)
				rep.Removed++
			}
		}
		for _, l := range write {
			drop = append(drop, l.Lesson)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE course = $1 AND lesson = ANY($2)`, r.lessons), course, drop); err != nil {
			return err
		}
		var lessonRows, chunkRows [][]any
		for _, l := range write {
			lessonRows = append(lessonRows, []any{course, l.Lesson, l.Stage, l.Title, l.Source, l.ContentHash})
			for i, c := range l.Chunks {
				if c.ID == "" {
					return fmt.Errorf("lesson %q: chunk %d without id", l.Lesson, i)
				}
				chunkRows = append(chunkRows, []any{c.ID, course, l.Lesson, l.Stage, i, l.Title, c.Section, c.Anchor, l.Source, clean0(c.Text)})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{r.lessons}, []string{"course", "lesson", "stage", "title", "source", "content_hash"}, pgx.CopyFromRows(lessonRows)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{r.chunks}, []string{"id", "course", "lesson", "stage", "ord", "title", "section", "anchor", "source", "body"}, pgx.CopyFromRows(chunkRows)); err != nil {
			return err
		}
		if rep.Added+rep.Updated+rep.Removed == 0 {
			return nil
		}
		// Term statistics for analyse: in how many chunks each word is,
		// and the course's chunk count under the empty word.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE course = $1`, r.terms), course); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, fmt.Sprintf(`
			INSERT INTO %[1]s (course, lexeme, ndoc)
			SELECT $1, word, ndoc FROM ts_stat(format('SELECT tsv FROM %[2]s WHERE course = %%L', $1::text))
			UNION ALL SELECT $1, '', count(*) FROM %[2]s WHERE course = $1`, r.terms, r.chunks), course)
		return err
	})
	return rep, err
}

func clean0(s string) string { return strings.ReplaceAll(s, "\x00", " ") }

func main() { plugins.ServeRetriever(&retriever{}) }
