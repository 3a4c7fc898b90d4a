"""DuckDB peer for the report benchmark: the same NPS, top-box share (4-5) and mean per
month over the same CSV, timed from reading the file to the last row of the result.

Usage: python3 duckdb_peer.py ANSWERS.csv   (needs PyPI `duckdb`)
"""
import sys
import time

import duckdb

QUERY = """
SELECT strftime(submitted_at, '%Y-%m') AS month,
       count(rec) AS n,
       100.0 * (avg(CASE WHEN rec >= 9 THEN 1 ELSE 0 END)
              - avg(CASE WHEN rec <= 6 THEN 1 ELSE 0 END)) AS nps,
       100.0 * avg(CASE WHEN sat >= 4 THEN 1.0 WHEN sat IS NOT NULL THEN 0.0 END) AS top_box,
       avg(sat) AS mean,
       stddev_samp(sat) AS sd
FROM read_csv(?, header = true,
              columns = {'submitted_at': 'TIMESTAMP', 'rec': 'INTEGER',
                         'sat': 'INTEGER', 'locale': 'VARCHAR'})
GROUP BY month ORDER BY month
"""


def main():
    path = sys.argv[1]
    con = duckdb.connect()
    start = time.perf_counter()
    rows = con.execute(QUERY, [path]).fetchall()
    seconds = time.perf_counter() - start
    total = sum(r[1] for r in rows)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"duckdb: {total} answers, {len(rows)} months, {threads} threads")
    print(f"duckdb seconds: {seconds:.3f}")


if __name__ == "__main__":
    main()
