# One image for the four services; compose.yaml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY migrations ./migrations
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "-m", "services.gateway"]
