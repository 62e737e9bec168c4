FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# DejaVu Sans: invoice PDFs draw every script it covers (billing/invoice_render.py).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN useradd --create-home softafrik && mkdir -p /var/lib/softafrik && chown softafrik /var/lib/softafrik
USER softafrik
EXPOSE 8000
CMD ["gunicorn", "softafrik.wsgi:application", "--bind", "0.0.0.0:8000"]
