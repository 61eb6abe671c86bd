import time, pyarrow as pa
def test_pg(pg):
    import adbc_driver_postgresql.dbapi as d
    db = pg.create_database()
    with d.connect(pg.dsn(db)) as c, c.cursor() as cur:
        cur.execute("create table t as select g::bigint id, g::int i, (g/7.0)::numeric(12,2) n, 'row'||g s, now()::timestamp + g*interval '1s' ts, g%2=0 b from generate_series(1,1000000) g")
        c.commit()
        for sql, p in [("select * from t where id >= 0 and id < 2000000", None), ("select * from t where id >= $1 and id < $2", (0, 2000000))]:
            t0=time.time(); cur.execute(sql, parameters=p); r = cur.fetch_record_batch(); n=sum(b.num_rows for b in r); print(sql, n, time.time()-t0)
        t0=time.time(); cur.execute("select * from t"); tb = cur.fetch_arrow_table(); print("read", time.time()-t0)
        t0=time.time(); cur.adbc_ingest("t2", tb, mode="create"); c.commit(); print("ingest", time.time()-t0)
        t0=time.time(); cur.execute("delete from t2 where id < 0"); cur.adbc_ingest("t2", tb.slice(0,10), mode="append"); c.rollback(); cur.execute("select count(*) from t2"); print("rolled", cur.fetchall(), time.time()-t0)
        cur.execute("PREPARE q(bigint,bigint) AS select * from t where id >= $1 and id < $2"); 
        t0=time.time(); cur.execute("EXECUTE q(0, 2000000)"); r = cur.fetch_record_batch(); n=sum(b.num_rows for b in r); print("prepared/execute", n, time.time()-t0)
