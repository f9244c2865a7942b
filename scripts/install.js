// placeholder until the real installer lands

