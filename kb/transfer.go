package kb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is one article file to import.
type File struct {
	Name string // shown in errors ("billing/refund.md")
	Data []byte
}

// ImportReport says what an import changed, by article id.
type ImportReport struct {
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Unchanged []string `json:"unchanged"`
}

// ReadDir collects the article files (*.md, any depth) under dir of fsys, in name order.
// Hidden files and directories are skipped.
func ReadDir(fsys fs.FS, dir string) ([]File, error) {
	var files []File
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") && p != dir {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.EqualFold(path.Ext(name), ".md") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// A body may be 1 MiB; leave room for front matter, refuse anything far larger
		// before reading it.
		if info.Size() > MaxBody+256<<10 {
			files = append(files, File{Name: p, Data: nil})
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, File{Name: p, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kb: read %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// ParseFiles parses every file and checks that ids are unique. It reports every bad file
// (file:line: reason), not only the first.
func ParseFiles(files []File) ([]Article, error) {
	var errs []error
	arts := make([]Article, 0, len(files))
	from := map[string]string{}
	for _, f := range files {
		if f.Data == nil {
			errs = append(errs, &ParseError{File: f.Name, Reason: fmt.Sprintf("file is larger than the %d byte body limit", MaxBody)})
			continue
		}
		a, err := Parse(f.Name, f.Data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := from[a.ID]; dup {
			errs = append(errs, &ParseError{File: f.Name, Line: 2,
				Reason: fmt.Sprintf("id %q is also used by %s: ids must be unique", a.ID, prev)})
			continue
		}
		from[a.ID] = f.Name
		arts = append(arts, a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return arts, nil
}

// Import creates or updates articles from files, by id, all or nothing: one bad file
// and nothing is imported. Importing the same files again changes nothing. Articles the
// files do not mention are left alone.
func (b *Base) Import(ctx context.Context, files []File, author string) (ImportReport, error) {
	arts, err := ParseFiles(files)
	if err != nil {
		return ImportReport{}, err
	}
	return b.ImportArticles(ctx, arts, author)
}

// ImportArticles is Import for articles already parsed.
func (b *Base) ImportArticles(ctx context.Context, arts []Article, author string) (ImportReport, error) {
	var rep ImportReport
	ids := make([]string, len(arts))
	for i := range arts {
		arts[i].Normalize()
		if err := arts[i].Validate(); err != nil {
			return rep, fmt.Errorf("kb: import %s: %w", arts[i].ID, err)
		}
		ids[i] = arts[i].ID
	}
	cur, err := b.store.ArticlesByID(ctx, ids)
	if err != nil {
		return rep, fmt.Errorf("kb: import: %w", err)
	}
	var changes []Change
	for _, a := range arts {
		c, ok := cur[a.ID]
		switch {
		case !ok || c.Deleted():
			rep.Created = append(rep.Created, a.ID)
		case a.SameContent(&c):
			rep.Unchanged = append(rep.Unchanged, a.ID)
			continue
		default:
			rep.Updated = append(rep.Updated, a.ID)
		}
		base := 0
		if ok {
			base = c.Version // refuse if someone saves the article meanwhile
		}
		changes = append(changes, Change{Article: a, Action: "import", Author: author, BaseVersion: base})
	}
	if _, err := b.save(ctx, changes); err != nil {
		return ImportReport{}, fmt.Errorf("kb: import: %w", err)
	}
	return rep, nil
}

// Export writes every article (drafts included, deleted ones not) to dir as <id>.md in
// the import format, and returns how many it wrote. Importing the directory changes
// nothing.
func (b *Base) Export(ctx context.Context, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("kb: export: %w", err)
	}
	n := 0
	for offset := 0; ; {
		arts, _, err := b.store.Articles(ctx, Filter{Limit: 1000, Offset: offset})
		if err != nil {
			return n, fmt.Errorf("kb: export: %w", err)
		}
		if len(arts) == 0 {
			return n, nil
		}
		offset += len(arts)
		for i := range arts {
			p := filepath.Join(dir, arts[i].ID+".md")
			if err := os.WriteFile(p, Marshal(&arts[i]), 0o644); err != nil {
				return n, fmt.Errorf("kb: export %s: %w", arts[i].ID, err)
			}
			n++
		}
	}
}

// ImportErrors splits an import error into its parts (one per bad file).
func ImportErrors(err error) []error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}
