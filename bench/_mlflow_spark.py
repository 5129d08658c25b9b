"""MLflow's side of bench/spark_scale.py; runs inside bench/.venv-mlflow-spark and prints JSON.

``save MODEL_DIR``: trains the shared model (``_spark_data.train``) and saves it with
``mlflow.sklearn.save_model`` (signature inferred from the training frame).
``score MODEL_DIR INPUT OUTPUT MASTER CONF_JSON``: a Spark session built like ``loopwright spark score``
builds its own (same master, same ``--conf`` pairs), ``mlflow.pyfunc.spark_udf(env_manager="local")``
on the model's input columns appended as ``prediction``, written as Parquet, then counted, as the CLI does.
"""

import json
import logging
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)


def save(model_dir: str) -> dict:
    import mlflow.sklearn
    from _spark_data import train
    from mlflow.models import infer_signature

    model, X = train()
    signature = infer_signature(X, model.predict(X))
    mlflow.sklearn.save_model(model, model_dir, signature=signature)
    return {"saved": model_dir}


def score(model_dir: str, data: str, output: str, master: str, conf: dict) -> dict:
    started = time.perf_counter()
    import mlflow.pyfunc
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("mlflow spark_udf")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")
    session_s = time.perf_counter() - started
    try:
        df = spark.read.parquet(data)
        udf = mlflow.pyfunc.spark_udf(spark, model_dir, result_type="long", env_manager="local")
        columns = [c for c in df.columns]
        job = time.perf_counter()
        df.withColumn("prediction", udf(*[F.col(c) for c in columns])).write.parquet(output)
        job_s = time.perf_counter() - job
        rows = spark.read.parquet(output).count()
    finally:
        spark.stop()
    return {"rows": rows, "session_s": round(session_s, 2), "job_s": round(job_s, 2)}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    result = save(sys.argv[2]) if sys.argv[1] == "save" else score(*sys.argv[2:6], json.loads(sys.argv[6]))
    print(json.dumps(result))
