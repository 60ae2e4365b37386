from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.jobs import insert_jobs


async def test_admin_reads_a_job(api, backend):
    headers = await api.admin()
    object_id = await api.object("web-1")
    job_id = new_id()
    await insert_jobs(
        api.store,
        [
            {
                "id": job_id,
                "owner_id": object_id,
                "owner_type": EntityKind.OBJECT,
                "timestamp": 1594970336122,
                "description": '{"stdout":"Hello, world!","exitCode":0}',
                "status": "succeeded",
            }
        ],
    )
    response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == job_id
    assert document["description"] == {"stdout": "Hello, world!", "exitCode": 0}
    assert document["results"] == []
    assert document["process_meta"] is None
