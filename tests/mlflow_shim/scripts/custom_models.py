# a user's own module: Loopwright imports PythonModel classes only from the user's code
import json

import loopwright.mlflow as mlflow


class AddN(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["config"]) as f:
            self.n = json.load(f)["n"]

    def predict(self, context, model_input, params=None):
        extra = (params or {}).get("extra", 0)
        return model_input["x"] + self.n + extra
