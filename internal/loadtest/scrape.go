package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is what the tool reads off the server's Prometheus endpoint: the process's
// resident memory and CPU time, as the server itself reports them.
type sample struct {
	rss int64
	cpu float64
}

type scraper struct {
	url    string
	client *http.Client

	mu   sync.Mutex
	peak int64
}

func newScraper(base string) *scraper {
	return &scraper{url: strings.TrimSuffix(base, "/") + "/metrics", client: &http.Client{Timeout: 10 * time.Second}}
}

func (s *scraper) sample(ctx context.Context) (sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return sample{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	var out sample
	var haveRSS, haveCPU bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			f, err := strconv.ParseFloat(value, 64)
			if err == nil {
				out.rss, haveRSS = int64(f), true
			}
		case "process_cpu_seconds_total":
			f, err := strconv.ParseFloat(value, 64)
			if err == nil {
				out.cpu, haveCPU = f, true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, fmt.Errorf("GET %s: %w", s.url, err)
	}
	if !haveRSS || !haveCPU {
		return sample{}, fmt.Errorf("GET %s: no process_resident_memory_bytes or process_cpu_seconds_total", s.url)
	}
	s.mu.Lock()
	s.peak = max(s.peak, out.rss)
	s.mu.Unlock()
	return out, nil
}

func (s *scraper) peakRSS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
