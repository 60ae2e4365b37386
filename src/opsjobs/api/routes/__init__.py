"""One module per resource; each builds an APIRouter around the request context."""
